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
    (checkpoints / "training.json").write_text(json.dumps(training or {"n_hidden": 64}), encoding="utf-8")
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
