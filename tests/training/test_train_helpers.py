"""Pure parts of the training steps: checkpoint state files, loss history, transfer, image capabilities."""

from __future__ import annotations

import json

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.training import checkpoints as ckpt
from stt_tasks.training.capabilities import resolve_training_switches
from stt_tasks.training.train import LossHistory, alphabet_labels, transfer_source


def write_state(directory, name, step):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(
        'model_checkpoint_path: "{d}/train-{s}"\nall_model_checkpoint_paths: "{d}/train-{p}"\n'
        'all_model_checkpoint_paths: "{d}/train-{s}"\n'.format(d=directory, s=step, p=step - 6))
    for suffix in (".index", ".data-00000-of-00001", ".meta"):
        (directory / "train-{}{}".format(step, suffix)).write_bytes(b"x")


def test_global_step_and_checkpoint_files(tmp_path):
    assert ckpt.global_step(tmp_path) == 0 and not ckpt.has_checkpoint(tmp_path)
    write_state(tmp_path, "checkpoint", 912)
    assert ckpt.global_step(tmp_path) == 912 and ckpt.has_checkpoint(tmp_path)
    files = ckpt.checkpoint_files(tmp_path, "checkpoint")
    assert [p.name for p in files] == ["checkpoint", "train-912.data-00000-of-00001", "train-912.index",
                                       "train-912.meta"]


def test_n_hidden_from_flags(tmp_path):
    assert ckpt.checkpoint_n_hidden(tmp_path) is None
    (tmp_path / "flags.txt").write_text(json.dumps({"n_hidden": 2048, "epochs": 3}))
    assert ckpt.checkpoint_n_hidden(tmp_path) == 2048


def test_loss_history_survives_a_resume(tmp_path):
    path = tmp_path / "history.json"
    first = LossHistory(path)
    first.feed("I Finished training epoch 0 - loss: 160.5")
    first.feed("I Finished validating epoch 0 on /mnt/a_dev.csv - loss: 120.25")
    first.feed("I Finished training epoch 1 - loss: 150.0")  # killed before validating
    resumed = LossHistory(path)
    resumed.feed("I Finished training epoch 0 - loss: 140.0")
    epochs = json.loads(path.read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    assert epochs[0] == {"epoch": 0, "train_loss": 160.5, "dev_loss": {"/mnt/a_dev.csv": 120.25}}
    assert epochs[2]["train_loss"] == 140.0


def test_transfer_drops_the_output_layer_only_when_alphabets_differ(tmp_path):
    ours, source, theirs = tmp_path / "ckpt", tmp_path / "transfer", tmp_path / "alphabet.txt"
    theirs.write_text("# comment\n \na\nb\n\\#\n", encoding="utf-8")
    assert alphabet_labels(theirs) == [" ", "a", "b", "#"]
    assert transfer_source(source, ours, theirs) is None  # nothing mounted
    write_state(source, "checkpoint", 100)
    (source / "alphabet.txt").write_text(" \na\nb\n\\#\n", encoding="utf-8")
    assert transfer_source(source, ours, theirs)["drop_source_layers"] == 0
    (source / "alphabet.txt").write_text(" \na\nb\nc\n", encoding="utf-8")
    assert transfer_source(source, ours, theirs)["drop_source_layers"] == 1
    write_state(ours, "checkpoint", 6)  # our own checkpoint wins: resume, never re-transfer
    assert transfer_source(source, ours, theirs) is None


def test_tf2_image_refuses_cudnn_and_amp_with_the_fix():
    with pytest.raises(BadInputError, match="TRAIN_CUDNN=0"):
        resolve_training_switches({"train_cudnn": True, "amp": False}, major=2)
    with pytest.raises(BadInputError, match="AMP=0"):
        resolve_training_switches({"train_cudnn": None, "amp": True}, major=2)
    assert resolve_training_switches({"train_cudnn": None, "amp": False}, major=2) == {
        "train_cudnn": False, "automatic_mixed_precision": False}
    assert resolve_training_switches({"train_cudnn": True, "amp": True}, major=1) == {
        "train_cudnn": True, "automatic_mixed_precision": True}


def test_missing_clip_is_named_with_its_csv_line(tmp_path):
    from stt_tasks.training.datasets import check_clips_exist

    corpus = tmp_path / "c"
    (corpus / "clips").mkdir(parents=True)
    (corpus / "clips" / "a.wav").write_bytes(b"RIFF")
    csv_path = corpus / "c_train.csv"
    csv_path.write_text("wav_filename,wav_filesize,transcript\nclips/a.wav,4,oui\nclips/b.wav,4,non\n")
    with pytest.raises(BadInputError, match=r"c_train.csv line 3: clip .*clips/b.wav does not exist"):
        check_clips_exist([csv_path])
    csv_path.write_text("wav_filename,wav_filesize,transcript\nclips/a.wav,4,oui\n")
    assert check_clips_exist([csv_path]) == 1


def test_a_checkpoint_saved_elsewhere_is_read_through_a_portable_view(tmp_path):
    mounted = tmp_path / "transfer"
    write_state(mounted, "checkpoint", 12)  # absolute paths, valid where they are
    assert ckpt.portable_view(mounted, tmp_path / "view") == mounted
    moved = tmp_path / "moved"
    mounted.rename(moved)  # as if mounted at another path: the absolute paths no longer resolve
    view = ckpt.portable_view(moved, tmp_path / "view")
    assert view == tmp_path / "view"
    assert ckpt.checkpoint_prefixes(view)[0] == "train-12"
    assert (view / "train-12.index").resolve() == (moved / "train-12.index").resolve()
