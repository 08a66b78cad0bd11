"""The train step's flags, marker and artifact, with coqui replaced by a recorder (the real thing runs in the image).

What the step emits for the feature cache, augmentation, the memory test and the log level; which of
them re-train when changed; that a parameter added to the table reaches coqui; what training.json holds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from stt_tasks.layout import DataRoot
from stt_tasks.parameters import PARAMETERS
from stt_tasks.training import memory_test as memory_test_module
from stt_tasks.training import train as train_module
from stt_tasks.training.augmentation import ORIGINAL_SPECS
from stt_tasks.training.datasets import training_data
from stt_tasks.training.feature_cache import feature_cache_prefix
from stt_tasks.training.memory_test import longest_clips_csv
from stt_tasks.training.train import marker_parameters, train
from stt_tasks.training.train_command import coqui_train_flags
from tests.importers.fixtures import wav

#: The parameters the train step is given (the lead's step table decides them; these are today's).
TRAIN_STEP_PARAMETERS = ("batch_size", "epochs", "learning_rate", "dropout", "n_hidden", "early_stop", "amp",
                         "train_cudnn", "enable_augments", "augmentation_arguments", "cache_for_epochs",
                         "feature_cache", "skip_batch_test", "log_level")
SWITCHES = {"train_cudnn": False, "automatic_mixed_precision": False}


def step_params(**changes: Any) -> Dict[str, Any]:
    params = {name: PARAMETERS[name].parse(PARAMETERS[name].default) for name in TRAIN_STEP_PARAMETERS}
    params.update(epochs=2, batch_size=2)
    params.update(changes)
    return params


class FakeCoqui:
    """Records each coqui run; a run on the data root's checkpoints leaves a checkpoint and two epochs' losses."""

    def __init__(self, root: DataRoot) -> None:
        self.root = root
        self.runs: List[Dict[str, Any]] = []

    def __call__(self, module, flags, extra_env=None, on_line=None):
        self.runs.append({"module": module, "flags": dict(flags), "env": dict(extra_env or {})})
        if flags.get("checkpoint_dir") != str(self.root.checkpoints):
            return []
        step = 2 * (len(self.runs) + 1)
        checkpoints = self.root.checkpoints
        for state, prefix in (("checkpoint", "train"), ("best_dev_checkpoint", "best_dev")):
            (checkpoints / state).write_text('model_checkpoint_path: "{0}/{1}-{2}"\n'
                                             'all_model_checkpoint_paths: "{0}/{1}-{2}"\n'.format(
                                                 checkpoints, prefix, step))
            (checkpoints / "{}-{}.index".format(prefix, step)).write_bytes(b"x")
        for epoch in range(flags["epochs"]):
            on_line("I Finished training epoch {} - loss: {}".format(epoch, 100.0 - epoch))
        return []


@pytest.fixture
def root(tmp_path):
    root = DataRoot(tmp_path / "data")
    root.create()
    corpus = root.corpus_dir("cv-fr")
    (corpus / "clips").mkdir(parents=True)
    rows = []
    for index, size in enumerate([300, 900, 100, 700, 500]):
        # Real WAV headers (the step reads their sample counts); the CSV's sizes decide the longest clips.
        (corpus / "clips" / "{}.wav".format(index)).write_bytes(wav(0.5))
        rows.append("clips/{}.wav,{},phrase {}".format(index, size, index))
    header = "wav_filename,wav_filesize,transcript\n"
    (corpus / "cv-fr_train.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    (corpus / "cv-fr_dev.csv").write_text(header + rows[0] + "\n", encoding="utf-8")
    (root.models / "alphabet.txt").write_text(" \na\ne\nh\np\nr\ns\n", encoding="utf-8")
    return root


@pytest.fixture
def coqui(root, monkeypatch):
    fake = FakeCoqui(root)
    monkeypatch.setattr(train_module, "run_coqui", fake)
    monkeypatch.setattr(memory_test_module, "run_coqui", fake)
    monkeypatch.setattr(train_module, "resolve_training_switches", lambda params: dict(SWITCHES))
    return fake


def test_defaults_cache_features_under_tmp_and_skip_coquis_batch_test(root, coqui):
    result = train(root, step_params(), transfer_dir=root.root / "none")
    [run] = coqui.runs
    flags = run["flags"]
    cache = Path(flags["feature_cache"])
    assert cache.name == "features" and cache.parent.parent == root.tmp / "feature_cache" and cache.parent.is_dir()
    assert flags["skip_batch_test"] is True and flags["log_level"] == 1 and "augment" not in flags
    assert "cache_for_epochs" not in flags and run["env"] == {"TF_CPP_MIN_LOG_LEVEL": "1"}
    assert result["augmentation"] is None and result["epochs"] == 2


def test_what_changes_no_weight_does_not_retrain(root, coqui):
    train(root, step_params(), transfer_dir=root.root / "none")
    again = train(root, step_params(feature_cache=False, skip_batch_test=False, log_level=3,
                                    augmentation_arguments=["volume"], cache_for_epochs=3),
                  transfer_dir=root.root / "none")
    assert again["skipped"] and len(coqui.runs) == 1


def test_switching_augmentation_on_continues_training_with_the_specs(root, coqui):
    train(root, step_params(), transfer_dir=root.root / "none")
    first_cache = coqui.runs[0]["flags"]["feature_cache"]
    result = train(root, step_params(enable_augments=True, cache_for_epochs=5), transfer_dir=root.root / "none")
    flags = coqui.runs[-1]["flags"]
    assert not result["skipped"] and flags["load_train"] == "last"
    assert flags["augment"] == list(ORIGINAL_SPECS) and flags["cache_for_epochs"] == 5
    assert result["augmentation"] == list(ORIGINAL_SPECS)
    # Augmented features are cached elsewhere; the cache of the plain features is gone.
    assert flags["feature_cache"] != first_cache and not Path(first_cache).parent.exists()
    marker = json.loads((root.checkpoints / ".train.completed.json").read_text())
    assert marker["inputs"]["parameters"]["augmentation_arguments"] == list(ORIGINAL_SPECS)


def test_the_given_alphabet_is_trained_with_and_recorded(root, coqui):
    given = root.models / "alphabet_v2.txt"
    given.write_text(" \na\ne\nh\np\nr\ns\nz\n", encoding="utf-8")
    train(root, step_params(), transfer_dir=root.root / "none", alphabet=given)
    assert coqui.runs[-1]["flags"]["alphabet_config_path"] == str(given)
    # another alphabet is another model: the default one (the alphabet step's) trains again
    again = train(root, step_params(), transfer_dir=root.root / "none")
    assert not again["skipped"] and coqui.runs[-1]["flags"]["alphabet_config_path"] == str(root.alphabet)


def test_memory_test_runs_first_on_the_longest_clips_without_the_cache(root, coqui):
    train(root, step_params(skip_batch_test=False, log_level=2), transfer_dir=root.root / "none")
    memory, real = coqui.runs
    assert memory["flags"]["epochs"] == 1 and memory["flags"]["load_train"] == "init"
    assert memory["flags"]["skip_batch_test"] is True and "feature_cache" not in memory["flags"]
    assert str(root.tmp / "batch-test") in memory["flags"]["checkpoint_dir"]
    assert memory["env"] == real["env"] == {"TF_CPP_MIN_LOG_LEVEL": "2"}
    [train_copy] = real["flags"]["train_files"]  # coqui reads the checked copy under tmp/, never the importer's
    assert Path(train_copy).parent == root.tmp / "alignable-csvs" / "train"
    assert Path(train_copy).name.endswith("-cv-fr_train.csv")
    assert real["flags"]["log_level"] == 1 and "feature_cache" in real["flags"]
    assert not (root.tmp / "batch-test").exists()  # the scratch training is removed


def test_longest_clips_are_picked_by_size_with_absolute_paths(root, tmp_path):
    csv_path = longest_clips_csv([root.data / "cv-fr" / "cv-fr_train.csv"], 3, tmp_path / "longest.csv")
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "wav_filename,wav_filesize,transcript"
    assert [line.split(",")[1] for line in lines[1:]] == ["900", "700", "500"]
    assert lines[1].split(",")[0] == str(root.data / "cv-fr" / "clips" / "1.wav")


def test_marker_parameters_are_unchanged_while_augmentation_is_off():
    # As recorded before these parameters existed: an upgrade does not re-train a finished model.
    assert marker_parameters(step_params()) == {
        name: step_params()[name] for name in ("batch_size", "epochs", "learning_rate", "dropout", "n_hidden",
                                                "early_stop", "amp", "train_cudnn")}
    with_augments = marker_parameters(step_params(enable_augments=True))
    assert with_augments["cache_for_epochs"] == 10 and with_augments["augmentation_arguments"] == list(ORIGINAL_SPECS)
    assert "cache_for_epochs" not in marker_parameters(step_params(enable_augments=True, feature_cache=False))


def test_feature_cache_keeps_a_complete_cache_and_clears_an_unfinished_one(tmp_path):
    root = DataRoot(tmp_path / "data")
    prefix = feature_cache_prefix(root, {"train_csvs": ["a"]})
    folder = prefix.parent
    # A killed first epoch: tf.data's shard files and lockfile, no index. tf.data would refuse to start.
    (folder / "features_0.lockfile").write_text("")
    (folder / "features_0.data-00000-of-00001").write_bytes(b"x")
    assert feature_cache_prefix(root, {"train_csvs": ["a"]}) == prefix and list(folder.iterdir()) == []
    # A finished cache is kept (a stray lockfile goes).
    for name in ("features.index", "features.data-00000-of-00001", "features_0.lockfile"):
        (folder / name).write_bytes(b"x")
    feature_cache_prefix(root, {"train_csvs": ["a"]})
    assert sorted(p.name for p in folder.iterdir()) == ["features.data-00000-of-00001", "features.index"]
    # Other inputs: another folder, and the old cache is removed.
    other = feature_cache_prefix(root, {"train_csvs": ["b"]})
    assert other.parent != folder and not folder.exists() and other.parent.is_dir()


def test_the_result_is_the_training_artifact_and_a_rerun_changes_no_byte(root, coqui):
    params = step_params()
    result = train(root, params, transfer_dir=root.root / "none")
    assert result["training"] == str(root.training) and not result["skipped"]
    artifact = json.loads(root.training.read_text(encoding="utf-8"))
    assert artifact == {k: v for k, v in result.items() if k not in ("training", "skipped")}
    assert artifact["parameters"] == params  # every given parameter, those that change no weight included
    assert artifact["global_step"] == 4 and artifact["epochs"] == 2 and artifact["best_dev_checkpoint"].endswith(
        "best_dev-4")
    assert not (root.checkpoints / ".train.progress.json").exists()
    written = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.checkpoints.iterdir()}
    again = train(root, params, transfer_dir=root.root / "none")
    assert again == dict(result, skipped=True) and len(coqui.runs) == 1
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.checkpoints.iterdir()} == written


def test_a_model_trained_before_the_artifact_existed_gets_it_without_retraining(root, coqui):
    train(root, step_params(), transfer_dir=root.root / "none")
    marker_path = root.checkpoints / ".train.completed.json"
    marker = json.loads(marker_path.read_text(encoding="utf-8"))
    del marker["result"]["parameters"]  # as the step wrote it before training.json
    marker_path.write_text(json.dumps(marker), encoding="utf-8")
    root.training.unlink()
    again = train(root, step_params(log_level=2), transfer_dir=root.root / "none")
    assert again["skipped"] and len(coqui.runs) == 1
    artifact = json.loads(root.training.read_text(encoding="utf-8"))
    assert artifact["parameters"] == step_params(log_level=2) and artifact["global_step"] == 4
    assert json.loads(marker_path.read_text(encoding="utf-8")) == marker  # the marker is not rewritten


def test_a_parameter_added_to_the_table_with_coqui_flags_reaches_coqui_and_the_marker(root, coqui, monkeypatch):
    seed = dataclasses.replace(PARAMETERS["batch_size"], name="random_seed", env="RANDOM_SEED", default="4568",
                               help="coqui's random seed", coqui=("random_seed",))
    monkeypatch.setitem(PARAMETERS, "random_seed", seed)
    params = step_params(random_seed=7)
    flags = coqui_train_flags(dict(params, feature_cache=False), SWITCHES, 1, training_data(root), None,
                              root.tmp / "summaries")
    assert flags["random_seed"] == 7 and flags["epochs"] == 1
    train(root, params, transfer_dir=root.root / "none")
    assert coqui.runs[-1]["flags"]["random_seed"] == 7
    assert marker_parameters(params)["random_seed"] == 7  # it changes the model: another seed trains again
    again = train(root, step_params(random_seed=8), transfer_dir=root.root / "none")
    assert not again["skipped"] and coqui.runs[-1]["flags"]["random_seed"] == 8


def test_flags_are_the_one_to_one_ones_plus_the_derived_with_the_epochs_still_to_run(root):
    params = step_params(enable_augments=True)
    flags = coqui_train_flags(params, SWITCHES, 1, training_data(root), root.tmp / "c" / "features",
                              root.tmp / "summaries")
    assert flags["epochs"] == 1 and flags["train_batch_size"] == flags["dev_batch_size"] == 2
    assert flags["dropout_rate"] == 0.3 and flags["early_stop"] is True and flags["n_hidden"] == 2048
    assert flags["automatic_mixed_precision"] is False and flags["train_cudnn"] is False
    assert flags["feature_cache"] == str(root.tmp / "c" / "features") and flags["augment"] == list(ORIGINAL_SPECS)
    assert flags["alphabet_config_path"] == str(root.alphabet) and "checkpoint_dir" not in flags


def _nvidia_smi_listing(tmp_path, monkeypatch, gpus: int) -> None:
    """A PATH whose nvidia-smi lists ``gpus`` GPUs, as inside a container given that many."""
    from tests.test_preflight import fake_nvidia_smi

    listing = "\n".join("GPU {0}: NVIDIA RTX (UUID: GPU-{0})".format(index) for index in range(gpus))
    monkeypatch.setenv("PATH", fake_nvidia_smi(tmp_path / "nvidia", listing))


def test_the_effective_batch_is_batch_size_times_the_visible_gpus(root, coqui, tmp_path, monkeypatch, caplog):
    import logging

    _nvidia_smi_listing(tmp_path, monkeypatch, 2)
    logger = logging.getLogger("stt_tasks")  # the step's log (it does not propagate to the root logger)
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="stt_tasks")
    try:
        result = train(root, step_params(batch_size=2, gpus="0,2"), transfer_dir=root.root / "none")
    finally:
        logger.removeHandler(caplog.handler)
    recorded = json.loads(root.training.read_text())
    assert recorded["effective_batch_size"] == 4 and len(recorded["gpus"]) == 2
    assert result["effective_batch_size"] == 4
    assert "effective batch: 4 clips per step (batch_size 2 x 2 GPUs)" in caplog.text


def test_on_the_cpu_the_effective_batch_is_the_batch_size_and_chosen_gpus_are_refused(root, coqui, monkeypatch):
    from stt_tasks.errors import BadInputError

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvidia-smi: no GPU
    with pytest.raises(BadInputError, match="gpus=2 but this container sees no GPU.*STT_GPU_ENABLED"):
        train(root, step_params(gpus="2"), transfer_dir=root.root / "none")
    assert coqui.runs == []
    assert train(root, step_params(gpus="all"), transfer_dir=root.root / "none")["effective_batch_size"] == 2
