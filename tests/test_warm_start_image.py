"""Warm-start retraining in the CPU image: a run fine-tuned from the last successful run's model starts
where that model ended (its first dev loss near the previous best, far below a fresh model's), and
records its lineage. Small model on the sample corpus (the leakage guard: tests/training/test_warm_start.py).
"""

from __future__ import annotations

import json

import pytest

from stt_tasks.package import checkpoint_members, write_tar_xz
from stt_tasks.training import checkpoints as ckpt
from tests.image_runner import needs_image, run_in_image
from tests.test_train_resume_image import SMALL, copy_root, imported  # noqa: F401 (the shared fixture)

pytestmark = [needs_image, pytest.mark.slow]


def first_dev_loss(data):
    history = json.loads((data / "checkpoints" / "training_history.json").read_text())["epochs"]
    return next(iter(history[0]["dev_loss"].values()))


def best_dev_loss(data):
    history = json.loads((data / "checkpoints" / "training_history.json").read_text())["epochs"]
    return min(min(e["dev_loss"].values()) for e in history if e["dev_loss"])


def record_run(data, run_id):
    """What a successful run does after training: the package step's archive, then the keep-model step."""
    archive = data / "checkpoint_fr.tar.xz"
    members = checkpoint_members(data / "checkpoints")
    write_tar_xz(archive, [(p, p.name) for p in members], rewrite={"best_dev_checkpoint": ckpt.relative_state})
    kept = run_in_image(["keep-model", "--run-id", run_id, "--checkpoint-archive=/mnt/checkpoint_fr.tar.xz",
                         "--training=/mnt/checkpoints/training.json"], volumes={data: "/mnt"})
    assert kept.returncode == 0, kept.explain()
    assert (data / "models" / "previous" / "train_set.tsv").is_file()  # the one training.json names
    return kept.result


def test_a_warm_started_run_starts_from_the_previous_best(imported, tmp_path):  # noqa: F811
    data = copy_root(imported, tmp_path / "data")
    first = run_in_image(["train", "--epochs", "8"] + SMALL, volumes={data: "/mnt"})
    assert first.returncode == 0, first.explain()
    previous_best = best_dev_loss(data)
    fresh_first = first_dev_loss(data)
    assert previous_best < 0.8 * fresh_first  # the model learnt something to start from
    record_run(data, "run-1")

    # a new release: more training data (here: the train set twice) changes the inputs
    corpus = data / "extracted" / "data" / "cv-fr"
    extra = corpus / "extra_train.csv"
    extra.write_text((corpus / "cv-fr_train.csv").read_text(encoding="utf-8"), encoding="utf-8")
    args = ["train", "--warm-start", "previous", "--warm-start-epochs", "1"] + SMALL
    warm = run_in_image(args, volumes={data: "/mnt"})
    assert warm.returncode == 0, warm.explain()
    assert warm.result["epochs"] == 1 and warm.result["transfer"]["drop_source_layers"] == 0
    assert warm.result["warm_start"]["lineage"][-1]["run_id"] == "run-1"
    warm_first = first_dev_loss(data)
    assert abs(warm_first - previous_best) < 0.25 * previous_best, (warm_first, previous_best, fresh_first)
    assert warm_first < 0.6 * fresh_first
    assert warm.result["parameters"]["warm_start_learning_rate"] == 0.00005
    lineage = record_run(data, "run-2")["lineage"]
    assert [step["run_id"] for step in lineage] == ["run-1", "run-2"]
