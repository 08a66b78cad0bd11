"""The whole training pipeline in the CPU image on the sample corpus: what CI proves end to end.

sample-corpus -> import -> alphabet -> train -> test -> lm -> optimize-lm -> test -> export -> transcribe
-> package -> report, each as its own ``docker run --network none`` (as Airflow runs them), real
TensorFlow, coqui, KenLM and ``stt``.

Why the thresholds: the sample corpus is 16 sentences read by 8 espeak-ng voices (6 train, 1 dev,
1 test; about 4 minutes of audio). A small model (n_hidden 200) over-trained 60 epochs must *fit its
training clips*; to measure that, a ``fit`` corpus whose dev and test CSVs list the training clips is
added (the test step reports each test CSV separately). Measured (2 cores): fit WER 0.11 / CER 0.03,
held-out voice WER 0.62 / CER 0.19, while an untrained model has WER 1.0. We require fit WER <= 0.3
(margin for thread-order nondeterminism of CPU training) and held-out CER <= 0.4 (the model learnt
sounds, not only the six training voices). These are the acoustic model's figures, so the first test
runs before the language model exists: the LM step leaves every dev and test sentence out of the LM
text, and as every sentence of this corpus is also read in dev and test, 30% of its words are out of
the scorer's vocabulary (the decoder cannot spell them).

Then the decoder: the LM step builds a KenLM model and scorer from the sample LM text, optimize-lm tunes
alpha/beta in a few trials on the dev CSVs (never test) and writes its own scorer package with them as
defaults, and the test step runs again with that scorer, as the DAG's test does. The exported model
must agree with the checkpoint on the same dev clips, with that scorer, within the transcribe step's
tolerance. Then a second pass (lm -> optimize-lm -> test -> export -> package, nothing changed) must skip
every step and change no byte, and a forced re-export and re-package must give the same bytes.
optimize-lm and the second test decode the first test's stored acoustic outputs (same checkpoint and
batches); at the end, decoding those outputs must give exactly coqui's own ``evaluate`` samples for three
(alpha, beta) pairs. Duration about 7 minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import struct
import tarfile
import zipfile

import pytest

from tests.image_runner import needs_image, run_in_image, writable_dir

pytestmark = [needs_image, pytest.mark.slow]

#: The test step's batch size too: the same batches give the same acoustic outputs, which both steps reuse.
TUNING = ["--lm-evaluate-range", "2,2,3", "--batch-size", "16"]
TRAINING = ["--batch-size", "8", "--n-hidden", "200", "--epochs", "60", "--learning-rate", "0.002",
            "--dropout", "0", "--early-stop", "0"]


def step(data, *args, expect=0):
    run = run_in_image(list(args), volumes={data: "/mnt"})
    assert run.returncode == expect, run.explain()
    return run.result if expect == 0 else run


def add_fit_corpus(data):
    """dev and test CSVs listing the training clips (absolute paths), in a corpus of their own."""
    train_csv = data / "extracted" / "data" / "cv-fr" / "cv-fr_train.csv"
    lines = train_csv.read_text(encoding="utf-8").splitlines()
    rows = [lines[0]] + ["/mnt/extracted/data/cv-fr/" + line for line in lines[1:]]
    fit = writable_dir(data / "extracted" / "data" / "fit")
    for split in ("dev", "test"):
        (fit / "fit_{}.csv".format(split)).write_text("\n".join(rows) + "\n", encoding="utf-8")


def scorer_alpha_beta(data, package="lm/kenlm.scorer", scorer=None):
    """The default alpha and beta stored in a scorer package, after the lm step's KenLM binary it starts with."""
    scorer = scorer if scorer is not None else (data / package).read_bytes()
    binary = (data / "lm" / "lm.binary").read_bytes()
    assert scorer.startswith(binary)
    magic, _version, _utf8, alpha, beta = struct.unpack_from("<ii?dd", scorer, len(binary))
    assert magic.to_bytes(4, "little") == b"EIRT"
    return alpha, beta


def zipped_scorer_alpha_beta(data):
    """The default alpha and beta of the scorer inside the model zip."""
    with zipfile.ZipFile(str(data / "models" / "fr-fr.zip")) as archive:
        return scorer_alpha_beta(data, scorer=archive.read("kenlm.scorer"))


def float32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


def test_sample_corpus_trains_tests_exports_packages_and_transcribes(tmp_path):
    data = writable_dir(tmp_path / "data")
    step(data, "sample-corpus", "--dest", "/mnt/sources")
    imported = step(data, "import", "common-voice")
    add_fit_corpus(data)
    step(data, "alphabet")

    # A flag this image cannot honour fails fast, with the reason and the fix.
    refused = step(data, "train", "--amp", "1", *TRAINING, expect=2)
    assert "AMP=0" in refused.stderr and not (data / "checkpoints" / "checkpoint").exists()

    trained = step(data, "train", *TRAINING)
    assert trained["epochs"] == 60 and not trained["skipped"] and trained["n_hidden"] == 200
    history = json.loads((data / "checkpoints" / "training_history.json").read_text())["epochs"]
    assert len(history) == 60 and history[-1]["train_loss"] < history[0]["train_loss"] / 5
    again = step(data, "train", *TRAINING)  # same inputs: nothing to do
    assert again["skipped"] and again["global_step"] == trained["global_step"]

    tested = step(data, "test", "--batch-size", "16")
    per_csv = {k.split("/")[-1]: v for k, v in tested["per_csv"].items()}
    assert per_csv["fit_test.csv"]["wer"] <= 0.3, per_csv
    assert per_csv["cv-fr_test.csv"]["cer"] <= 0.4, per_csv
    summary = json.loads((data / "models" / "test_summary.json").read_text())
    assert set(summary["samples"]) == {"best", "median", "worst"} and summary["dev"]["overall"]["clips"] == 112
    assert len(json.loads((data / "models" / "test_output.json").read_text())) == 224  # test + dev clips

    # No scorer yet: decoder tuning is skipped, not failed.
    skipped = step(data, "optimize-lm", "--lm-evaluate-range", "1,1,2", expect=99)
    assert "kenlm.scorer" in skipped.stderr

    # The language model and scorer from the sample LM text, with the image's KenLM.
    lm_args = ["lm", "--text", "/mnt/sources/sample_lm_fr.txt", "--memory", "1G", "--lm-top-k", "1000"]
    lm = step(data, *lm_args)
    assert lm["scorer"] == "/mnt/lm/kenlm.scorer" and lm["vocabulary_size"] > 50
    assert lm["evaluation_sentences_removed"] > 0 and scorer_alpha_beta(data) == (0.0, 0.0)

    # Decoder tuning: a few trials on the dev CSVs only; the tuned values become the defaults of a scorer
    # package of its own, the lm step's is left as it was.
    tuned = step(data, "optimize-lm", *TUNING)
    assert tuned["trials"] == 3 and tuned["metric"] == "wer" and not tuned["skipped"]
    # the first test step's acoustic pass over the dev CSVs (same checkpoint, same batches) is decoded again
    assert tuned["acoustic_passes"] == {"computed": 0, "reused": 2}
    assert tuned["scorer"] == "/mnt/lm/tuned/kenlm.scorer" and tuned["tuning"] == "/mnt/lm/opt_lm.json"
    assert sorted(tuned["tuned_on"]) == ["/mnt/extracted/data/cv-fr/cv-fr_dev.csv",
                                         "/mnt/extracted/data/fit/fit_dev.csv"]  # never a test CSV
    assert 0.0 <= tuned["lm_alpha"] <= 2.0 and 0.0 <= tuned["lm_beta"] <= 2.0
    tuned_values = (float32(tuned["lm_alpha"]), float32(tuned["lm_beta"]))
    assert scorer_alpha_beta(data) == (0.0, 0.0)
    assert scorer_alpha_beta(data, "lm/tuned/kenlm.scorer") == tuned_values

    # The test step again, as the DAG runs it after the tuning: its inputs given as the DAG gives them (the
    # upstream results' paths); LM_ALPHA = LM_BETA = 0.0, so the decoder uses the tuned scorer's defaults.
    retested = step(data, "test", "--batch-size", "16", "--alphabet=/mnt/models/alphabet.txt",
                    "--scorer=" + tuned["scorer"])
    assert retested["acoustic_passes"] == {"computed": 0, "reused": 4}  # one decode, no acoustic model
    assert not retested["skipped"] and retested["decoder"] == {
        "scorer": tuned["scorer"], "beam_width": 500, "lm_alpha": tuned_values[0], "lm_beta": tuned_values[1],
        "alpha_beta_from": tuned["scorer"]}

    exported = step(data, "export", "--scorer=" + tuned["scorer"])
    assert exported["model_bytes"] > 100000 and not list((data / "models").glob("*.pb"))
    with zipfile.ZipFile(str(data / "models" / "fr-fr.zip")) as archive:
        assert sorted(archive.namelist()) == ["CommonVoice-FR-Team_cv-fr-tflite_1.2.md", "kenlm.scorer",
                                              "output_graph.tflite"]
    assert zipped_scorer_alpha_beta(data) == tuned_values
    metadata = (data / "models" / "CommonVoice-FR-Team_cv-fr-tflite_1.2.md").read_text()
    assert "language: fr-FR" in metadata and "license: MIT-0" in metadata

    transcribed = step(data, "transcribe", "--model=" + exported["model"], "--scorer=" + tuned["scorer"],
                       "--test-summary=" + retested["summary"])
    assert transcribed["clips"] == 112 and transcribed["wer_difference"] <= transcribed["tolerance"]

    training = record_training(data)
    downstream = ["--scorer=" + tuned["scorer"], "--tuning=" + tuned["tuning"], "--test-summary=" + retested["summary"],
                  "--training=" + training, "--model=" + exported["model"], "--model-zip=" + exported["zip"]]
    packaged = step(data, "package", *downstream)
    with tarfile.open(str(data / "model_tflite_fr.tar.xz")) as archive:
        assert sorted(archive.getnames()) == ["alphabet.txt", "kenlm.scorer", "output_graph.tflite"]
    with tarfile.open(str(data / "checkpoint_fr.tar.xz")) as archive:
        names = archive.getnames()
        state = archive.extractfile("best_dev_checkpoint").read().decode()
    assert 'model_checkpoint_path: "best_dev-' in state and "/mnt/" not in state  # portable once extracted
    assert "best_dev_checkpoint" in names and any(n.endswith(".index") for n in names) and "flags.txt" in names
    card = (data / "model_card_fr.md").read_text()
    assert "| cv-fr | 96 | 16 | 16 |" in card and "| n_hidden | 200 |" in card and "fit_test.csv" in card
    assert "Common Voice release `{}`, sha256 `{}`".format(imported["release"]["release"],
                                                           imported["release"]["sha256"]) in card
    assert "trained in image `stt-tasks-cpu` (code revision `" in card and "Decoder tuned on the dev sets (3 " in card
    assert "[reports/report.html](reports/report.html)" in card
    assert packaged["artifacts"]["output_graph.tflite"]["size"] == exported["model_bytes"]

    run_id = "manual__2026-12-01T09:00:00+00:00"
    report_args = ["report", "--run-id=" + run_id, "--run-started=2026-12-01T09:00:00+00:00",
                   "--test-summary=" + retested["summary"], "--test-output=" + retested["test_output"],
                   "--training=" + training, "--tuning=" + tuned["tuning"], "--tuning-study=" + tuned["study"]] + [
        "--{}={}".format(option, packaged[key]) for option, key in (
            ("model-card", "model_card"), ("model-archive", "model_archive"),
            ("checkpoint-archive", "checkpoint_archive"), ("package-zip", "model_zip"))]
    report = step(data, *report_args)
    assert report["missing"] == [] and len(report["plots"]) == 6, report
    page = (data / "reports" / "runs" / run_id / "report.html").read_text()
    assert page.count("data:image/svg+xml;base64,") == 6 == page.count("<img ")
    assert "in 3 trials: lm_alpha" in page and '<tr class="best">' in page  # the tuning's trials, best marked
    assert "WER [95% CI]" in page and "Common Voice" in page
    listed = json.loads((data / "reports" / "runs" / run_id / "summary.json").read_text())
    assert listed["run_id"] == run_id and listed["test_wer"] == retested["wer"]
    assert (data / "reports" / "report.html").is_file()
    before_report = sha256_tree(data)
    assert step(data, *report_args)["skipped"] and changed(before_report, sha256_tree(data)) == []

    check_second_pass(data, lm_args, downstream)
    check_reproducible_export_and_package(data, tuned["scorer"], downstream)
    check_stored_outputs_decode_as_coqui_evaluates(data)


def check_second_pass(data, lm_args, downstream):
    """lm -> optimize-lm -> test -> export -> package again with nothing changed: every step skips, no byte
    changes, and the model zip's scorer still carries the tuned values (it lost them to 0.0/0.0 when
    optimize-lm re-packaged the lm step's scorer in place)."""
    before = sha256_tree(data)
    relm = step(data, *lm_args)
    assert relm["rebuilt"] == {"language_model": False, "scorer": False}, relm
    retuned = step(data, "optimize-lm", *TUNING, "--scorer=" + relm["scorer"])
    assert retuned["skipped"]
    tuned_scorer = "--scorer=" + retuned["scorer"]
    assert step(data, "test", "--batch-size", "16", "--alphabet=/mnt/models/alphabet.txt", tuned_scorer)["skipped"]
    assert step(data, "export", tuned_scorer)["skipped"]
    assert step(data, "package", *downstream)["skipped"]
    assert changed(before, sha256_tree(data)) == []
    assert zipped_scorer_alpha_beta(data) == scorer_alpha_beta(data, "lm/tuned/kenlm.scorer") != (0.0, 0.0)


def check_reproducible_export_and_package(data, tuned_scorer, downstream):
    """The same checkpoint and inputs give the same bytes: the model card's checksums identify a model."""
    shipped = ["models/output_graph.tflite", "models/fr-fr.zip", "model_tflite_fr.tar.xz", "checkpoint_fr.tar.xz",
               "fr-fr.zip", "model_card_fr.md"]
    before = {name: sha256(data / name) for name in shipped}
    (data / "models" / ".export.completed.json").unlink()
    assert not step(data, "export", "--scorer=" + tuned_scorer)["skipped"]
    (data / ".package.completed.json").unlink()
    assert not step(data, "package", *downstream)["skipped"]
    assert {name: sha256(data / name) for name in shipped} == before


#: (lm_alpha, lm_beta) pairs of the equivalence check: no LM weight, a strong one, a large insertion bonus.
EQUIVALENCE_WEIGHTS = ((0.0, 0.0), (1.5, 0.5), (0.4, 3.0))
STORED_DECODE = """
import json, sys
from pathlib import Path
from stt_tasks.layout import DataRoot
from stt_tasks.training.evaluate import decode_with_stored_outputs
csvs, alpha, beta, output = [Path(p) for p in sys.argv[1].split(',')], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
decoder = {"scorer": "/mnt/lm/kenlm.scorer", "beam_width": 500, "lm_alpha": alpha, "lm_beta": beta}
samples, passes = decode_with_stored_outputs(DataRoot(Path("/mnt")), csvs, Path("/mnt/models/alphabet.txt"), decoder, 16)
Path(output).write_text(json.dumps({"samples": samples, "passes": passes}, default=float))
"""


def check_stored_outputs_decode_as_coqui_evaluates(data):
    """Equivalence: for the same checkpoint, alpha and beta, decoding the stored outputs gives exactly coqui's
    own ``evaluate`` samples (transcripts, distances, losses, order; hence WER/CER), for three weight pairs."""
    out = writable_dir(data / "tmp" / "equivalence")
    dev_csvs = ["/mnt/extracted/data/cv-fr/cv-fr_dev.csv", "/mnt/extracted/data/fit/fit_dev.csv"]
    for alpha, beta in EQUIVALENCE_WEIGHTS:
        name = "{}-{}".format(alpha, beta)
        coqui = run_in_image(
            ["-m", "stt_tasks.training.launch", "coqui_stt_training.evaluate", "--test_files", *dev_csvs,
             "--checkpoint_dir", "/mnt/checkpoints", "--load_evaluate", "best", "--alphabet_config_path",
             "/mnt/models/alphabet.txt", "--scorer_path", "/mnt/lm/kenlm.scorer", "--lm_alpha", str(alpha), "--lm_beta",
             str(beta), "--export_beam_width", "500", "--test_batch_size", "16", "--train_cudnn", "false",
             "--show_progressbar", "false", "--test_output_file", "/mnt/tmp/equivalence/coqui-{}.json".format(name)],
            volumes={data: "/mnt"}, entrypoint="python")
        assert coqui.returncode == 0, coqui.explain()
        stored = run_in_image(["-c", STORED_DECODE, ",".join(dev_csvs), str(alpha), str(beta),
                               "/mnt/tmp/equivalence/stored-{}.json".format(name)], volumes={data: "/mnt"},
                              entrypoint="python")
        assert stored.returncode == 0, stored.explain()
        expected = json.loads((out / "coqui-{}.json".format(name)).read_text(encoding="utf-8"))
        decoded = json.loads((out / "stored-{}.json".format(name)).read_text(encoding="utf-8"))
        assert decoded["passes"] == {"computed": 0, "reused": 2}  # the test step's pass, decoded again
        assert [s["res"] for s in decoded["samples"]] == [s["res"] for s in expected], (alpha, beta)
        assert decoded["samples"] == expected, (alpha, beta)
        assert len(expected) == 112 and len({s["res"] for s in expected}) > 10  # real, varied transcripts
    transcripts = {pair: [s["res"] for s in json.loads((out / "coqui-{}-{}.json".format(*pair)).read_text())]
                   for pair in EQUIVALENCE_WEIGHTS}
    assert len({tuple(t) for t in transcripts.values()}) > 1, "the weights changed no transcript: a weak check"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_tree(data):
    """Every file under the data root by its path and content hash."""
    return {str(p.relative_to(data)): sha256(p) for p in sorted(data.rglob("*")) if p.is_file()}


def changed(before, after):
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


def record_training(data):
    """The train step's result as ``checkpoints/training.json`` (the train step writes it itself once it does)."""
    training = data / "checkpoints" / "training.json"
    if not training.is_file():
        marker = json.loads((data / "checkpoints" / ".train.completed.json").read_text())
        training.write_text(json.dumps(dict(marker["result"], parameters=marker["inputs"]["parameters"])))
    return "/mnt/checkpoints/training.json"
