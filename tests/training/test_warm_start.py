"""Warm start without TensorFlow: the record of the last successful run, its lineage, and the leakage
guard against what the warm-start model trained on."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from stt_tasks.importers.leakage import LeakageError, write_leakage_report
from stt_tasks.layout import DataRoot
from stt_tasks.training.warm_start import previous_model, record_previous, write_train_set

CSV_HEADER = "wav_filename,wav_filesize,transcript\r\n"


def corpus(root: DataRoot, splits):
    """An imported corpus ``c``: CSVs and manifest, ``splits`` = {split: [(clip, speaker, transcript)]}."""
    folder = root.data / "c"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = ["split\tassigned\tspeaker\ttranscript"]
    for split in ("train", "dev", "test"):
        rows = splits.get(split, [])
        (folder / "c_{}.csv".format(split)).write_text(
            CSV_HEADER + "".join("{},10,{}\r\n".format(clip, text) for clip, _s, text in rows), encoding="utf-8")
        manifest += ["{}\tofficial\t{}\t{}".format(split, speaker, text) for _c, speaker, text in rows]
    (folder / "c_manifest.tsv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    return folder


def record(root: DataRoot, train_csvs, run_id="run-1", training=None):
    checkpoints = root.checkpoints
    checkpoints.mkdir(parents=True, exist_ok=True)
    write_train_set(checkpoints / "train_set.tsv", train_csvs)
    training = dict(training or {"n_hidden": 64}, train_set=str(checkpoints / "train_set.tsv"))
    (checkpoints / "training.json").write_text(json.dumps(training), encoding="utf-8")
    state = checkpoints / "best_dev_checkpoint"
    state.write_text('model_checkpoint_path: "best_dev-6"\n', encoding="utf-8")
    (checkpoints / "best_dev-6.index").write_bytes(b"index")
    archive = root.root / "checkpoint_fr.tar.xz"
    with tarfile.open(str(archive), "w:xz") as tar:
        for path in (state, checkpoints / "best_dev-6.index"):
            tar.add(str(path), arcname=path.name)
    return record_previous(root.models, archive, checkpoints / "training.json",
                           {"run_id": run_id, "release": "r", "chain": ["full", "delta"]})


def test_the_previous_model_is_recorded_unpacked_and_its_lineage_grows(tmp_path: Path):
    root = DataRoot(tmp_path / "data")
    root.create()
    folder = corpus(root, {"train": [("clips/a.wav", "s1", "un chat")], "dev": [("clips/b.wav", "s2", "un chien")]})
    first = record(root, [folder / "c_train.csv"])
    model = previous_model(root.models, root.tmp)
    assert model is not None and (model.checkpoint_dir / "best_dev-6.index").read_bytes() == b"index"
    assert [step["run_id"] for step in model.lineage] == ["run-1"] == [s["run_id"] for s in first["lineage"]]
    train_set = model.train_set.read_text(encoding="utf-8").splitlines()  # type: ignore[union-attr]
    assert train_set == ["corpus\tclip\tspeaker\ttranscript", "c\tclips/a.wav\ts1\tun chat"]
    # the next run was warm-started from it: its record descends from run-1
    second = record(root, [folder / "c_train.csv"], "run-2", {"warm_start": {"lineage": model.lineage}})
    assert [step["run_id"] for step in second["lineage"]] == ["run-1", "run-2"]


def test_the_leakage_guard_fails_on_a_clip_the_warm_start_model_trained_on(tmp_path: Path):
    root = DataRoot(tmp_path / "data")
    root.create()
    folder = corpus(root, {"train": [("clips/a.wav", "s1", "un chat")], "dev": [("clips/b.wav", "s2", "un chien")]})
    record(root, [folder / "c_train.csv"])
    assert write_leakage_report(root, warm_start="previous")["warm_start"]["clips"]["count"] == 0
    # a planted leak: the previous model trained on b.wav, which the new import puts in dev
    corpus(root, {"train": [("clips/b.wav", "s2", "un chien")], "dev": [("clips/c.wav", "s3", "un ours")]})
    record(root, [folder / "c_train.csv"])
    corpus(root, {"train": [("clips/a.wav", "s1", "un chat")], "dev": [("clips/b.wav", "s2", "un chien")]})
    with pytest.raises(LeakageError) as raised:
        write_leakage_report(root, warm_start="previous")
    message = str(raised.value)
    assert "1 clips (e.g. c/clips/b.wav)" in message and "1 sentences (e.g. un chien)" in message
    assert "1 speakers (e.g. c:s2)" in message
    assert json.loads((root.reports / "leakage.json").read_text())["warm_start"]["speakers"]["count"] == 1
    assert write_leakage_report(root)["warm_start"] is None  # warm_start none: not checked


def test_keep_model_keeps_the_lineage_of_the_run_that_trained_it(tmp_path: Path):
    """A second run that trained nothing new (same archive, same training.json) changes nothing."""
    from stt_tasks.training.warm_start import keep_model

    root = DataRoot(tmp_path / "data")
    root.create()
    checkpoints = root.checkpoints
    (checkpoints / "train_set.tsv").write_text("corpus\tclip\tspeaker\ttranscript\n", encoding="utf-8")
    (checkpoints / "training.json").write_text(json.dumps({"train_set": str(checkpoints / "train_set.tsv")}))
    archive = root.root / "checkpoint_fr.tar.xz"
    archive.write_bytes(b"an archive")
    report = root.data / "cv-fr" / "cv-fr_report.json"
    report.parent.mkdir()
    report.write_text(json.dumps({"release": {"release": "cv-corpus-100.0-delta-x-fr.tar.gz", "chain": [
        {"release": "cv-corpus-99.0-x-fr.tar.gz"}, {"release": "cv-corpus-100.0-delta-x-fr.tar.gz"}]}}))
    first = keep_model(root, archive, checkpoints / "training.json", report, run_id="run-1")
    assert first["skipped"] is False and first["run"]["chain"] == ["cv-corpus-99.0-x-fr.tar.gz",
                                                                   "cv-corpus-100.0-delta-x-fr.tar.gz"]
    kept = root.models / "previous"
    before = {p.name: p.read_bytes() for p in kept.iterdir()}
    again = keep_model(root, archive, checkpoints / "training.json", report, run_id="run-2")
    assert again["skipped"] is True and again["run"]["run_id"] == "run-1"
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before
    # the package step replaces its archive by rename: the kept link still holds run 1's bytes
    replacement = root.root / ".new"
    replacement.write_bytes(b"a newer archive")
    replacement.replace(archive)
    assert (kept / "checkpoint_fr.tar.xz").read_bytes() == b"an archive"
    third = keep_model(root, archive, checkpoints / "training.json", report, run_id="run-3")
    assert third["skipped"] is False and [r["run_id"] for r in third["lineage"]] == ["run-3"]
