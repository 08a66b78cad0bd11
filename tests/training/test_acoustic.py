"""Stored acoustic outputs: one pass per (checkpoint, CSV), found again by its inputs, gone with its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stt_tasks.training.acoustic import acoustic_outputs, cache_root
from stt_tasks.training.datasets import split_csvs
from stt_tasks.training.stored_outputs import load_clips


def csvs(root):
    return split_csvs(root, "dev") + split_csvs(root, "test")


def stored_files(root):
    return sorted(p for p in cache_root(root).rglob("*") if p.is_file())


def test_one_pass_stores_every_csv_and_a_second_call_only_reads(trained_root, acoustic_pass):
    first = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    assert len(acoustic_pass) == 1 and [o.computed for o in first] == [True, True]
    [run] = acoustic_pass
    assert run["module"] == "stt_tasks.training.acoustic_pass"
    assert run["flags"]["test_files"] == [str(p) for p in csvs(trained_root)] and run["flags"]["test_batch_size"] == 8
    assert run["flags"]["load_evaluate"] == "best" and run["flags"]["checkpoint_dir"] == str(trained_root.checkpoints)
    clips = load_clips(first[0].path)
    assert clips.transcripts == ["la mer"] and clips.probabilities.dtype == np.float32 and list(clips.lengths) == [3]
    before = {p: p.stat().st_mtime_ns for p in stored_files(trained_root)}
    again = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    assert len(acoustic_pass) == 1 and [o.computed for o in again] == [False, False]
    assert [o.path for o in again] == [o.path for o in first]
    assert {p: p.stat().st_mtime_ns for p in stored_files(trained_root)} == before
    assert not [p for p in cache_root(trained_root).rglob(".*tmp-*")]


def test_a_changed_csv_or_batch_size_is_another_pass_of_that_csv_only(trained_root, acoustic_pass):
    first = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    dev = csvs(trained_root)[0]
    dev.write_text(dev.read_text(encoding="utf-8").replace("la mer", "la mare"), encoding="utf-8")
    changed = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    assert [o.computed for o in changed] == [True, False] and changed[1].path == first[1].path
    assert acoustic_pass[-1]["flags"]["test_files"] == [str(dev)]
    assert load_clips(changed[0].path).transcripts == ["la mare"]
    # coqui's batches decide the outputs' floating point: another batch size is another pass
    other = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 16)
    assert all(o.computed for o in other) and len(acoustic_pass) == 3


def test_the_outputs_of_a_checkpoint_no_longer_the_best_are_removed(trained_root, acoustic_pass):
    first = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    old_folder = first[0].path.parent
    # the train step saved a better checkpoint: other files, another best
    (trained_root.checkpoints / "best_dev-20.index").write_bytes(b"y")
    (trained_root.checkpoints / "best_dev_checkpoint").write_text(
        'model_checkpoint_path: "{0}/best_dev-20"\n'.format(trained_root.checkpoints), encoding="utf-8")
    second = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    assert all(o.computed for o in second) and not old_folder.exists()
    assert [p.name for p in cache_root(trained_root).iterdir()] == [second[0].path.parent.name]


def test_the_checkpoint_flags_are_part_of_the_key(trained_root, acoustic_pass):
    first = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    (trained_root.checkpoints / "flags.txt").write_text('{"n_hidden": 100}', encoding="utf-8")
    second = acoustic_outputs(trained_root, csvs(trained_root), trained_root.alphabet, 8)
    assert all(o.computed for o in second) and {o.path for o in first}.isdisjoint({o.path for o in second})
    assert all(Path(o.path).is_file() for o in second)
