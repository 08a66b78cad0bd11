"""The package step's pure parts: checkpoint members, portable archives, the model card's lineage."""

from __future__ import annotations

import json
import os
import tarfile
import time

from stt_tasks.layout import DataRoot
from stt_tasks.reproducible import MEMBER_MTIME
from stt_tasks.package import checkpoint_members, model_card, package, write_tar_xz
from stt_tasks.training.checkpoints import relative_state


def test_checkpoint_archive_holds_the_best_checkpoint_with_bare_names(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "best_dev_checkpoint").write_text(
        'model_checkpoint_path: "{0}/best_dev-720"\nall_model_checkpoint_paths: "{0}/best_dev-720"\n'.format(
            checkpoints))
    for name in ("best_dev-720.index", "best_dev-720.data-00000-of-00001", "best_dev-720.meta", "train-900.index",
                 "flags.txt", "alphabet.txt"):
        (checkpoints / name).write_text("x")
    members = checkpoint_members(checkpoints)
    assert [p.name for p in members] == ["best_dev_checkpoint", "best_dev-720.data-00000-of-00001",
                                         "best_dev-720.index", "best_dev-720.meta", "flags.txt", "alphabet.txt"]
    archive_path = tmp_path / "checkpoint_fr.tar.xz"
    write_tar_xz(archive_path, [(p, p.name) for p in members], rewrite={"best_dev_checkpoint": relative_state})
    with tarfile.open(str(archive_path)) as archive:
        state = archive.extractfile("best_dev_checkpoint").read().decode()
    assert state == 'model_checkpoint_path: "best_dev-720"\nall_model_checkpoint_paths: "best_dev-720"\n'
    assert not list(tmp_path.glob(".*tmp-*"))


CV_RELEASE = "cv-corpus-12.0-2022-12-07-fr.tar.gz"
CV_SHA256 = "00afc519" + "0" * 48 + "fef216eb"


def test_model_card_tells_the_lineage(tmp_path, fr_pack, monkeypatch):
    monkeypatch.setenv("STT_IMAGE", "stt-tasks-cpu")
    monkeypatch.setenv("STT_CODE_REVISION", "1a2b3c4")
    root = DataRoot(tmp_path / "data")
    root.create()
    (root.data / "cv-fr").mkdir()
    # as the Common Voice importer records the release it read: in its report
    (root.data / "cv-fr" / "cv-fr_report.json").write_text(json.dumps({
        "corpus": "cv-fr", "kept": {"train": {"clips": 96}, "dev": {"clips": 16}, "test": {"clips": 16}},
        "kept_hours": 0.07, "dropped": {"too_short": 1, "invalid_label": 2},
        "release": {"release": CV_RELEASE, "sha256": CV_SHA256, "sha256_known": True}}))
    # its private marker is not read
    (root.data / "cv-fr" / ".completed.json").write_text(json.dumps({"inputs": {}, "outputs": [], "result": {
        "corpus": "cv-fr", "release": {"release": "cv-corpus-0-marker", "sha256": "0", "sha256_known": True}}}))
    (root.data / "mls-fr").mkdir()
    (root.data / "mls-fr" / "mls-fr_report.json").write_text(json.dumps({
        "corpus": "mls-fr", "kept": {"train": {"clips": 5}}, "kept_hours": 0.01}))
    (root.data / "mls-fr" / ".completed.json").write_text(json.dumps({"inputs": {}, "outputs": [], "result": {
        "corpus": "mls-fr", "source": {"archive": "mls_lm_french.tar.gz"}}}))
    training = {"parameters": {"n_hidden": 200, "epochs": 60}, "epochs": 60, "global_step": 720,
                "best_dev_checkpoint": "/mnt/checkpoints/best_dev-720", "n_hidden": 200, "transfer": None,
                "trained_in": {"image": "stt-tasks-gpu", "code_revision": "9f8e7d6"}}
    summary = {
        "decoder": {"beam_width": 500, "lm_alpha": 0.0, "lm_beta": 0.0, "alpha_beta_from": "parameters",
                    "scorer": None},
        "test": {"per_csv": {"/mnt/extracted/data/cv-fr/cv-fr_test.csv": {"clips": 16, "wer": 0.62, "cer": 0.19}},
                 "overall": {"clips": 16, "wer": 0.62, "cer": 0.19}}}
    card = model_card(fr_pack, root, {"n_hidden": 2048}, {"output_graph.tflite": {"size": 5, "sha256": "ab"}},
                      training=training, summary=summary)
    assert card.startswith("# cv-fr 1.2 (fr-FR)")
    assert "| cv-fr | 96 | 16 | 16 | 0.07 | 2 invalid_label, 1 too_short |" in card
    assert "| n_hidden | 200 |" in card and "| n_hidden | 2048 |" not in card  # what it was trained with
    assert "Trained 60 epochs (720 steps), best dev checkpoint `best_dev-720`" in card
    assert "| cv-fr_test.csv | 16 | 0.620 | 0.190 |" in card
    assert "| output_graph.tflite | 5 | `ab` |" in card
    # lineage: the Common Voice release and its checksum, the images and code revisions, the report
    assert "- cv-fr: Common Voice release `{}`, sha256 `{}` (matches the published checksum).".format(
        CV_RELEASE, CV_SHA256) in card
    assert "mls-fr: Common Voice" not in card
    assert ("Built: trained in image `stt-tasks-gpu` (code revision `9f8e7d6`); packaged in image `stt-tasks-cpu` "
            "(code revision `1a2b3c4`).") in card
    assert "[reports/report.html](reports/report.html)" in card
    assert "| enable_augments | False |" in card


def test_model_card_says_when_the_release_or_the_image_is_not_known(tmp_path, fr_pack, monkeypatch):
    monkeypatch.delenv("STT_IMAGE", raising=False)
    monkeypatch.delenv("STT_CODE_REVISION", raising=False)
    root = DataRoot(tmp_path / "data")
    root.create()
    (root.data / "cv-fr").mkdir()
    # a report carrying the release itself is read too
    (root.data / "cv-fr" / "cv-fr_report.json").write_text(json.dumps({
        "corpus": "cv-fr", "kept": {}, "kept_hours": 0.0,
        "release": {"release": "cv-corpus-13.0-2023-03-09", "extracted_directory": "/mnt/sources/cv"}}))
    card = model_card(fr_pack, root, {}, {})
    assert "- cv-fr: Common Voice release `cv-corpus-13.0-2023-03-09`, imported from an extracted folder" in card
    assert "Built: trained in an image that did not record itself; packaged in image `unknown`" in card


def test_model_card_with_augmentation_lists_the_specs(tmp_path, fr_pack):
    root = DataRoot(tmp_path / "data")
    root.create()
    training = {"parameters": {"n_hidden": 200, "enable_augments": True, "augmentation_arguments": ["volume", "warp"],
                               "cache_for_epochs": 10},
                "epochs": 1, "global_step": 6, "best_dev_checkpoint": "b/best_dev-6", "n_hidden": 200}
    card = model_card(fr_pack, root, {}, {}, training=training)
    assert "| enable_augments | True |" in card and "| augmentation_arguments | `volume` `warp` |" in card


def exported_root(tmp_path):
    """A data root after train and export (stand-in bytes: packaging only copies and archives them)."""
    root = DataRoot(tmp_path / "data")
    root.create()
    (root.checkpoints / "best_dev_checkpoint").write_text('model_checkpoint_path: "best_dev-10"\n')
    (root.checkpoints / "best_dev-10.index").write_text("x")
    (root.models / "fr-fr.zip").write_bytes(b"zip")
    return root


def test_package_archives_the_model_alphabet_and_scorer_it_is_given(tmp_path, fr_pack):
    root = exported_root(tmp_path)
    given = {"model": root.models / "candidate.tflite", "alphabet": root.models / "alphabet_v2.txt",
             "scorer": root.lm / "tuned.scorer"}
    for path in given.values():
        path.write_text(path.name)
    package(root, fr_pack, {}, **given)
    with tarfile.open(str(root.root / "model_tflite_fr.tar.xz")) as archive:
        assert sorted(archive.getnames()) == ["alphabet_v2.txt", "candidate.tflite", "tuned.scorer"]
    # the defaults: the export and alphabet steps' outputs, and no scorer when the lm step's is absent
    for name in ("output_graph.tflite", "alphabet.txt"):
        (root.models / name).write_text(name)
    package(root, fr_pack, {})
    with tarfile.open(str(root.root / "model_tflite_fr.tar.xz")) as archive:
        assert sorted(archive.getnames()) == ["alphabet.txt", "output_graph.tflite"]


def test_the_card_tells_what_the_given_training_tuning_and_test_summary_say(tmp_path, fr_pack):
    root = exported_root(tmp_path)
    for name in ("output_graph.tflite", "alphabet.txt"):
        (root.models / name).write_text(name)
    # the train step's result, where it writes it, and a marker it no longer reads
    root.training.write_text(json.dumps({"parameters": {"n_hidden": 200}, "epochs": 60, "global_step": 720,
                                         "best_dev_checkpoint": "/mnt/checkpoints/best_dev-720", "n_hidden": 200}))
    (root.checkpoints / ".train.completed.json").write_text(json.dumps({"inputs": {"parameters": {"n_hidden": 9}}}))
    runs = root.root / "runs"
    runs.mkdir()
    (runs / "tuning.json").write_text(json.dumps({"trials": 7, "lm_alpha": 0.6, "lm_beta": 1.3, "metric": "wer",
                                                  "wer": 0.4}))
    (runs / "summary.json").write_text(json.dumps({
        "decoder": {"beam_width": 500, "lm_alpha": 0.6, "lm_beta": 1.3, "alpha_beta_from": "/mnt/lm/tuned/kenlm.scorer",
                    "scorer": "/mnt/lm/tuned/kenlm.scorer"},
        "test": {"per_csv": {"/mnt/cv-fr_test.csv": {"clips": 3, "wer": 0.5, "cer": 0.2}},
                 "overall": {"clips": 3, "wer": 0.5, "cer": 0.2}}}))
    package(root, fr_pack, {"n_hidden": 2048}, test_summary=runs / "summary.json", tuning=runs / "tuning.json",
            training=root.training)
    card = (root.root / "model_card_fr.md").read_text()
    assert "| n_hidden | 200 |" in card and "Trained 60 epochs (720 steps)" in card
    assert "Decoder tuned on the dev sets (7 trials): lm_alpha 0.6000, lm_beta 1.3000, dev wer 0.4000." in card
    assert "| cv-fr_test.csv | 3 | 0.500 | 0.200 |" in card
    # a changed training record is a new package
    assert package(root, fr_pack, {"n_hidden": 2048}, test_summary=runs / "summary.json",
                   tuning=runs / "tuning.json", training=root.training)["skipped"]
    root.training.write_text(json.dumps({"parameters": {"n_hidden": 300}, "epochs": 61}))
    again = package(root, fr_pack, {"n_hidden": 2048}, test_summary=runs / "summary.json", tuning=runs / "tuning.json",
            training=root.training)
    assert not again["skipped"] and "| n_hidden | 300 |" in (root.root / "model_card_fr.md").read_text()


def test_packaging_twice_gives_the_same_bytes(tmp_path, fr_pack):
    root = exported_root(tmp_path)
    for name in ("output_graph.tflite", "alphabet.txt"):
        (root.models / name).write_text(name)
    package(root, fr_pack, {})
    names = ("model_tflite_fr.tar.xz", "checkpoint_fr.tar.xz", "fr-fr.zip", "model_card_fr.md")
    first = {name: (root.root / name).read_bytes() for name in names}
    for path in [root.root / ".package.completed.json"] + [root.root / name for name in names]:
        path.unlink()
    time.sleep(1.1)  # a second later: member times would differ, were they the files'
    for path in list(root.models.iterdir()) + list(root.checkpoints.iterdir()):
        os.utime(str(path))
    (root.models / "alphabet.txt").chmod(0o600)
    assert not package(root, fr_pack, {})["skipped"]
    assert {name: (root.root / name).read_bytes() for name in names} == first
    with tarfile.open(str(root.root / "model_tflite_fr.tar.xz")) as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == ["output_graph.tflite", "alphabet.txt"]  # the order given
    assert {(m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname) for m in members} == {(MEMBER_MTIME, 0o644, 0, 0, "", "")}


def test_a_tuning_left_by_an_earlier_run_is_not_this_models(tmp_path, fr_pack):
    """Decoder tuning skipped in this run (no tuning given): the card must not describe an old opt_lm.json."""
    root = exported_root(tmp_path)
    for name in ("output_graph.tflite", "alphabet.txt"):
        (root.models / name).write_text(name)
    root.tuning.write_text(json.dumps({"trials": 7, "lm_alpha": 0.6, "lm_beta": 1.3, "metric": "wer", "wer": 0.4}))
    package(root, fr_pack, {})
    assert "Decoder tuned" not in (root.root / "model_card_fr.md").read_text()
    package(root, fr_pack, {}, tuning=root.tuning)
    assert "Decoder tuned on the dev sets (7 trials)" in (root.root / "model_card_fr.md").read_text()


def test_model_card_tells_the_effective_batch(tmp_path, fr_pack):
    root = DataRoot(tmp_path / "data")
    root.create()
    training = {"parameters": {"batch_size": 32, "gpus": "0,2"}, "epochs": 1, "global_step": 6,
                "best_dev_checkpoint": "b/best_dev-6", "n_hidden": 200, "gpus": ["GPU 0: A", "GPU 2: B"],
                "effective_batch_size": 64}
    card = model_card(fr_pack, root, {}, {}, training=training)
    assert "Effective batch: 64 clips per step (2 GPUs)." in card and "| gpus | 0,2 |" in card
    training.update(gpus=[], effective_batch_size=32)
    assert "Effective batch: 32 clips per step (on the CPU)." in model_card(fr_pack, root, {}, {}, training=training)
