"""A data root after a whole run, in the real layouts, written by the producers' own code where it is pure
(import report, CSVs, test summary, loss history) and as the steps write them otherwise."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Optional

from stt_tasks.fsio import write_json_atomic
from stt_tasks.importers.engine import csv_text
from stt_tasks.importers.records import SourceIssues
from stt_tasks.importers.report import ImportReport
from stt_tasks.layout import DataRoot
from stt_tasks.training.evaluate import best_median_worst, summarise
from stt_tasks.training.metrics import edit_distance
from stt_tasks.training.resume import LossHistory

CV_RELEASE = "cv-corpus-12.0-2022-12-07-fr.tar.gz"
CV_SHA256 = "00afc519" + "0" * 48 + "fef216eb"
SENTENCES = ["le chat dort sur le tapis", "il fait beau ce matin", "la mer est calme", "bonjour à tous",
             "merci beaucoup pour votre aide", "au revoir et à demain", "nous partons en vacances",
             "elle lit un livre ancien"]


def corpus(root: DataRoot, name: str, clips: Dict[str, int], release: bool) -> Dict[str, Path]:
    """An imported corpus: its report (ImportReport's JSON) and its split CSVs."""
    folder = root.data / name
    folder.mkdir(parents=True, exist_ok=True)
    report = ImportReport(name, SourceIssues())
    csvs = {}
    for split, count in clips.items():
        rows = []
        for i in range(count):
            report.keep(split, 16000 * (2 + i % 5), "speaker-{}-{}".format(split, i % 4))
            rows.append(("{}_{}_{:04d}.wav".format(name, split, i), 64044, SENTENCES[i % len(SENTENCES)]))
        csvs[split] = folder / "{}_{}.csv".format(name, split)
        csvs[split].write_text(csv_text(rows), encoding="utf-8")
    report.drop("too_short", "clips/common_voice_fr_1.mp3", 8000)
    report.drop("invalid_label", "validated.tsv:12: 'hello <b>world</b>'")
    report.drop("invalid_label", "validated.tsv:40: 'w00t'")
    payload = report.as_json()
    if release:  # as the importer records the release it read
        payload["release"] = {"release": CV_RELEASE, "sha256": CV_SHA256, "sha256_known": True}
    write_json_atomic(folder / "{}_report.json".format(name), payload)
    return csvs


def decoded(csv_path: Path, error_every: int, rng: random.Random) -> List[Dict[str, Any]]:
    """coqui's test_output.json samples for a CSV's clips: every ``error_every``-th word wrong, at random."""
    samples = []
    for line in csv_path.read_text(encoding="utf-8").splitlines()[1:]:
        wav, _size, reference = line.rstrip("\r").split(",", 2)
        words = reference.split()
        hypothesis = " ".join("x" if rng.randrange(error_every) == 0 else w for w in words)
        wd, cd = edit_distance(words, hypothesis.split()), edit_distance(reference, hypothesis)
        samples.append({"wav_filename": str(csv_path.parent / wav), "src": reference, "res": hypothesis,
                        "loss": float(10 * cd), "char_distance": cd, "char_length": len(reference),
                        "word_distance": wd, "word_length": len(words), "cer": cd / len(reference),
                        "wer": wd / len(words)})
    return samples


def study(path: Path, trials: List[Dict[str, Any]]) -> None:
    """An Optuna RDB study file holding one study, in Optuna's schema (the tables the report reads)."""
    connection = sqlite3.connect(str(path))
    connection.executescript(
        "CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name VARCHAR(512));"
        "CREATE TABLE trials (trial_id INTEGER PRIMARY KEY, number INTEGER, study_id INTEGER, state VARCHAR(8),"
        " datetime_start DATETIME, datetime_complete DATETIME);"
        "CREATE TABLE trial_params (param_id INTEGER PRIMARY KEY, trial_id INTEGER, param_name VARCHAR(512),"
        " param_value FLOAT, distribution_json TEXT);"
        "CREATE TABLE trial_values (trial_value_id INTEGER PRIMARY KEY, trial_id INTEGER, objective INTEGER,"
        " value FLOAT, value_type VARCHAR(7));")
    connection.execute("INSERT INTO studies VALUES (1, 'lm-other'), (2, 'lm-0123456789abcdef')")
    connection.execute("INSERT INTO trials VALUES (1, 0, 1, 'COMPLETE', NULL, NULL)")  # another study's
    connection.execute("INSERT INTO trial_params VALUES (1, 1, 'lm_alpha', 0.1, '{}'), (2, 1, 'lm_beta', 0.2, '{}')")
    connection.execute("INSERT INTO trial_values VALUES (1, 1, 0, 0.01, 'FINITE')")
    for number, trial in enumerate(trials):
        trial_id = number + 2
        connection.execute("INSERT INTO trials VALUES (?, ?, 2, ?, NULL, NULL)", (trial_id, number, trial["state"]))
        connection.execute("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
                           "VALUES (?, 'lm_alpha', ?, '{}'), (?, 'lm_beta', ?, '{}')",
                           (trial_id, trial["lm_alpha"], trial_id, trial["lm_beta"]))
        connection.execute("INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?, 0, ?, "
                           "'FINITE')", (trial_id, trial["wer"]))
    connection.commit()
    connection.close()


COQUI_EPOCH = ("Training epoch {e}...", "Finished training epoch {e} - loss: {train:f}",
               "Validating epoch {e} on {dev}...", "Finished validating epoch {e} on {dev} - loss: {dev_loss:f}",
               "-" * 80)


def trained(root: DataRoot, dev_csv: Path, epochs: int) -> Path:
    """The train step's training.json and the loss history LossHistory parses from coqui's lines."""
    history = LossHistory(root.checkpoints / "training_history.json")
    for epoch in range(epochs):
        for line in COQUI_EPOCH:
            history.feed(line.format(e=epoch, train=120.0 / (epoch + 1), dev=dev_csv, dev_loss=130.0 / (epoch + 1)
                                     + (5.0 if epoch == epochs - 1 else 0.0)))
    training = {"checkpoint_dir": str(root.checkpoints),
                "best_dev_checkpoint": str(root.checkpoints / "best_dev-{}".format(6 * (epochs - 1))),
                "global_step": 6 * epochs, "epochs": epochs, "n_hidden": 200, "history": str(history.path),
                "last_epoch": history.epochs[-1], "transfer": None, "train_cudnn": False, "augmentation": None,
                "trained_in": {"image": "stt-tasks-gpu", "code_revision": "9f8e7d6"},
                "parameters": {"n_hidden": 200, "epochs": epochs, "batch_size": 8}}
    write_json_atomic(root.training, training)
    return root.training


def finished_run(root: DataRoot, test_clips: int = 48, release: bool = True) -> Dict[str, Optional[Path]]:
    """A data root after a whole run; returns the report step's inputs as the DAG gives them."""
    root.create()
    rng = random.Random(7)
    cv = corpus(root, "cv-fr", {"train": 96, "dev": 16, "test": test_clips}, release)
    mls = corpus(root, "mls-fr", {"train": 30, "dev": 8, "test": 12}, False)
    samples = decoded(cv["test"], 4, rng) + decoded(mls["test"], 2, rng) + decoded(cv["dev"], 3, rng) \
        + decoded(mls["dev"], 3, rng)
    write_json_atomic(root.test_output, samples)
    test_csvs = [cv["test"], mls["test"]]
    test_wavs = {s["wav_filename"] for csv in test_csvs for s in decoded(csv, 1, random.Random(0))}
    test_samples = [s for s in samples if s["wav_filename"] in test_wavs]
    write_json_atomic(root.test_summary, {
        "checkpoint": str(root.checkpoints / "best_dev-18"),
        "decoder": {"scorer": str(root.tuned_scorer), "beam_width": 500, "lm_alpha": 0.75, "lm_beta": 1.25,
                    "alpha_beta_from": str(root.tuned_scorer)},
        "test_output": str(root.test_output), "test": summarise(test_samples, test_csvs),
        "dev": summarise(samples, [cv["dev"], mls["dev"]]), "samples": best_median_worst(test_samples)})
    training = trained(root, cv["dev"], 4)
    trials = [{"state": "COMPLETE", "lm_alpha": 0.2 * i, "lm_beta": 1.9 - 0.3 * i, "wer": 0.5 - 0.02 * i * (5 - i)}
              for i in range(6)] + [{"state": "PRUNED", "lm_alpha": 1.9, "lm_beta": 0.1, "wer": 0.9}]
    best = min((t for t in trials if t["state"] == "COMPLETE"), key=lambda t: t["wer"])
    write_json_atomic(root.tuning, {"lm_alpha": best["lm_alpha"], "lm_beta": best["lm_beta"], "wer": best["wer"],
                                    "metric": "wer", "trials": len(trials),
                                    "tuned_on": [str(cv["dev"]), str(mls["dev"])],
                                    "source_scorer": str(root.scorer), "scorer": str(root.tuned_scorer)})
    study(root.lm / "lm_optimizer.sqlite", trials)
    packaged = {"model_archive": root.root / "model_tflite_fr.tar.xz",
                "checkpoint_archive": root.root / "checkpoint_fr.tar.xz", "package_zip": root.root / "fr-fr.zip",
                "model_card": root.root / "model_card_fr.md"}
    for name, path in packaged.items():
        path.write_bytes(name.encode("ascii") * 10)
    return dict(packaged, test_summary=root.test_summary, test_output=root.test_output, training=training,
                tuning=root.tuning, tuning_study=root.lm / "lm_optimizer.sqlite")
