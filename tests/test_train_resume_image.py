"""The train step's promises, in the CPU image: a killed run resumes with only the epochs it still owes,
transfer learning re-initialises the output layer when the alphabets differ, augmentation and the memory
test work with the feature cache, and the preflight smoke training learns its clip. Small model
(n_hidden 64) on the sample corpus: about 1 s per epoch on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from stt_tasks.training.augmentation import ORIGINAL_SPECS
from tests.image_runner import docker_command, needs_image, run_in_image, writable_dir

pytestmark = [needs_image, pytest.mark.slow]

EPOCHS = 10
STEPS_PER_EPOCH = 6  # 96 training clips, batch 16
SMALL = ["--batch-size", "16", "--n-hidden", "64", "--learning-rate", "0.002", "--dropout", "0", "--early-stop", "0"]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A data root with the sample corpus imported and its alphabet built (shared, read by copy)."""
    data = writable_dir(tmp_path_factory.mktemp("imported") / "data")
    for args in (["sample-corpus", "--dest", "/mnt/sources"], ["import", "common-voice"], ["alphabet"]):
        run = run_in_image(args, volumes={data: "/mnt"})
        assert run.returncode == 0, run.explain()
    return data


def copy_root(source, target):
    shutil.copytree(str(source), str(target), symlinks=True)
    for folder, dirs, _files in os.walk(str(target)):
        os.chmod(folder, 0o777)
    return target


def history_length(data):
    try:
        return len(json.loads((data / "checkpoints" / "training_history.json").read_text())["epochs"])
    except (OSError, ValueError):
        return 0


def test_a_killed_training_resumes_with_the_epochs_it_still_owes(imported, tmp_path):
    data = copy_root(imported, tmp_path / "data")
    name = "stt-resume-test-" + uuid.uuid4().hex[:8]
    args = ["train", "--epochs", str(EPOCHS)] + SMALL
    process = subprocess.Popen(docker_command(args, volumes={data: "/mnt"}, name=name),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while history_length(data) < 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, "training finished before it could be killed"
        subprocess.run(["docker", "kill", name], stdout=subprocess.DEVNULL, check=True)
    finally:
        process.wait(timeout=60)
    killed_after = history_length(data)
    assert 3 <= killed_after < EPOCHS and not (data / "checkpoints" / ".train.completed.json").exists()

    run = run_in_image(args, volumes={data: "/mnt"})
    assert run.returncode == 0, run.explain()
    result = run.result
    # Only the missing epochs ran: the step count is exactly EPOCHS epochs' worth.
    assert result["global_step"] == EPOCHS * STEPS_PER_EPOCH, (result, run.stderr[-3000:])
    assert "epochs done" in run.stderr and result["epochs"] in (EPOCHS, EPOCHS + 1)
    # The result is an artifact (the package step reads it): with the parameters the model was trained with.
    artifact_path = data / "checkpoints" / "training.json"
    assert result["training"] == "/mnt/checkpoints/training.json"
    artifact = json.loads(artifact_path.read_text(encoding="utf-8"))
    assert artifact["global_step"] == result["global_step"] and artifact["parameters"]["epochs"] == EPOCHS
    assert artifact["parameters"]["n_hidden"] == 64 and artifact["parameters"]["log_level"] == 1
    written = artifact_path.read_bytes()
    again = run_in_image(args, volumes={data: "/mnt"})
    assert again.returncode == 0 and again.result["skipped"], again.explain()
    assert artifact_path.read_bytes() == written


def test_transfer_learning_drops_the_output_layer_when_the_alphabet_differs(imported, tmp_path):
    source = copy_root(imported, tmp_path / "source")
    run = run_in_image(["train", "--epochs", "2"] + SMALL, volumes={source: "/mnt"})
    assert run.returncode == 0, run.explain()

    target = copy_root(imported, tmp_path / "target")
    alphabet = target / "models" / "alphabet.txt"
    alphabet.write_text(alphabet.read_text(encoding="utf-8") + "k\n", encoding="utf-8")  # one more label
    run = run_in_image(["train", "--epochs", "2"] + SMALL,
                       volumes={target: "/mnt", source / "checkpoints": "/transfer-checkpoint:ro"})
    assert run.returncode == 0, run.explain()
    transfer = run.result["transfer"]
    assert transfer["alphabet_differs"] and transfer["drop_source_layers"] == 1
    assert transfer["checkpoint_dir"] == "/transfer-checkpoint"
    assert (target / "checkpoints" / "best_dev_checkpoint").is_file()
    assert "drop_source_layers 1" in run.stderr


def test_augmented_training_with_the_memory_test_and_the_feature_cache(imported, tmp_path):
    """The original's augmentation specs through coqui 1.4.0 on TF2, with SKIP_BATCH_TEST=0 and the feature cache.

    coqui's own memory test would never exit (STT#2195) and would fill the feature cache from its 3 batches
    (48 clips), training every later epoch on those only: 2 epochs would then be 6 steps, not 12.
    """
    data = copy_root(imported, tmp_path / "data")
    run = run_in_image(["train", "--epochs", "2", "--enable-augments", "1", "--skip-batch-test", "0"] + SMALL,
                       volumes={data: "/mnt"}, timeout=600)
    assert run.returncode == 0, run.explain()
    result = run.result
    assert result["global_step"] == 2 * STEPS_PER_EPOCH, (result, run.stderr[-3000:])
    assert result["augmentation"] == list(ORIGINAL_SPECS) and "Parsed augmentations: [Reverb(" in run.stderr
    assert "memory test passed" in run.stderr and not (data / "tmp" / "batch-test").exists()
    assert len(list((data / "tmp" / "feature_cache").glob("*/features.index"))) == 1  # complete, kept for reuse


def test_preflight_smoke_training_learns_its_clip(tmp_path):
    """The smoke model transcribes its training clip, in ``stt``: CER <= 0.1 (measured 0 on two runs).

    A model that did not learn cannot pass: with a quarter of the steps (48) the transcript is still mostly
    blanks (CER 0.77, WER 1.0), and an untrained one outputs nothing (CER 1.0).
    """
    data = writable_dir(tmp_path / "data")
    run = run_in_image(["preflight", "--smoke-train"], volumes={data: "/mnt"})
    assert run.returncode == 0, run.explain()
    smoke = run.result["smoke_train"]
    assert smoke["epochs"] == 3 and smoke["steps"] == 192 and smoke["model_bytes"] > 10000
    assert smoke["expected"] == "le chat dort sur le canapé"
    assert smoke["stt_cer"] <= 0.1 and smoke["checkpoint_cer"] <= 0.1, smoke
