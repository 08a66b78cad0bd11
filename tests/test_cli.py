"""The command-line contract: JSON last line, parameters by option or environment, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import List

import pytest

from stt_tasks.cli import main
from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_NOTHING_TO_DO, EXIT_SETUP
from stt_tasks.parameters import PARAMETERS, parse_evaluate_range
from stt_tasks.training.augmentation import ORIGINAL_SPECS


def test_last_stdout_line_is_json_and_stdout_has_nothing_else(tmp_path, step):
    run = step("preflight", "--data-root", str(tmp_path))
    assert run.returncode == 0
    assert run.stdout.count("\n") == 1 and json.loads(run.stdout)["data_root"] == str(tmp_path)
    assert "GPUs visible" in run.stderr  # progress goes to stderr


def test_parameter_defaults_are_the_original_image_ones(step):
    assert step("params").result["parameters"] == {
        "batch_size": 64,
        "epochs": 40,
        "learning_rate": 0.0001,
        "dropout": 0.3,
        "n_hidden": 2048,
        "beam_width": 500,
        "lm_alpha": 0.0,
        "lm_beta": 0.0,
        "lm_top_k": 500000,
        "lm_add_excluded_max_sec": False,
        "amp": False,
        "train_cudnn": None,  # auto: cuDNN LSTM only where the image has it
        "early_stop": True,
        "english_compatible": False,
        "lm_evaluate_range": None,
        "duplicate_sentence_count": 1,
        "warm_start": "none",
        "warm_start_epochs": 10,
        "warm_start_learning_rate": 0.00005,
        "feature_cache": True,
        "enable_augments": False,
        "augmentation_arguments": list(ORIGINAL_SPECS),  # the original augments.txt's
        "cache_for_epochs": 10,
        "skip_batch_test": True,
        "log_level": 1,
        # the pipeline's own
        "download": False,
        "transfer_checkpoint": None,
        "lm_texts": [],
        "lm_memory": "85%",
        "gpus": "all",
    }


def test_environment_and_option(step):
    run = step("params", "--epochs", "3", env={"EPOCHS": "7", "BATCH_SIZE": "8", "LM_EVALUATE_RANGE": "5,5,60"})
    params = run.result["parameters"]
    assert params["epochs"] == 3 and params["batch_size"] == 8  # the option wins over the environment
    assert params["lm_evaluate_range"] == [5.0, 5.0, 60]


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("--epochs", "0", "--epochs (env EPOCHS): must be a positive integer"),
        ("--dropout", "1.5", "--dropout (env DROPOUT): must be in [0, 1)"),
        ("--amp", "maybe", "--amp (env AMP): expected a boolean"),
        ("--lm-evaluate-range", "5,5", "--lm-evaluate-range (env LM_EVALUATE_RANGE): expected alpha_max,beta_max,n_trials"),
        ("--duplicate-sentence-count", "x", "--duplicate-sentence-count"),
    ],
)
def test_bad_parameter_values_exit_2_with_the_reason(step, option, value, message):
    run = step("params", option, value)
    assert run.returncode == EXIT_BAD_INPUT and message in run.stderr and run.stdout == ""


#: A valid value other than the default, as typed on the command line and as the step then holds it.
OTHER_VALUES = {
    "batch_size": ("8", 8), "epochs": ("3", 3), "learning_rate": ("0.001", 0.001), "dropout": ("0.25", 0.25),
    "n_hidden": ("100", 100), "beam_width": ("20", 20), "lm_alpha": ("0.5", 0.5), "lm_beta": ("1.5", 1.5),
    "lm_top_k": ("1000", 1000), "lm_add_excluded_max_sec": ("1", True), "amp": ("1", True),
    "train_cudnn": ("0", False), "early_stop": ("0", False), "english_compatible": ("1", True),
    "lm_evaluate_range": ("2,3,4", [2.0, 3.0, 4]), "feature_cache": ("0", False), "enable_augments": ("1", True),
    "augmentation_arguments": ("volume[p=0.5,dbfs=-10:-40]", ["volume[p=0.5,dbfs=-10:-40]"]),
    "cache_for_epochs": ("2", 2), "skip_batch_test": ("0", False), "log_level": ("3", 3),
    "duplicate_sentence_count": ("4", 4), "download": ("1", True), "transfer_checkpoint": ("/ckpt", "/ckpt"),
    "lm_texts": ("sources/a.txt", ["sources/a.txt"]), "lm_memory": ("2G", "2G"),
    "warm_start": ("previous", "previous"), "warm_start_epochs": ("4", 4), "warm_start_learning_rate": ("0.0002", 0.0002),
    "gpus": ("device=0,2", "0,2"),
}


def printed_parameters(capsys, *argv):
    assert main(["params"] + list(argv)) == 0
    return json.loads(capsys.readouterr().out)["parameters"]


def test_every_parameter_is_set_by_its_option_and_the_original_ones_by_their_variable(capsys, monkeypatch):
    assert set(OTHER_VALUES) == set(PARAMETERS)
    for name, (text, value) in OTHER_VALUES.items():
        option = PARAMETERS[name].option
        assert json.loads(json.dumps(printed_parameters(capsys, "{}={}".format(option, text))[name])) == value, option
        if PARAMETERS[name].env:
            monkeypatch.setenv(PARAMETERS[name].env, text)
            assert json.loads(json.dumps(printed_parameters(capsys)[name])) == value, PARAMETERS[name].env
            monkeypatch.delenv(PARAMETERS[name].env)
    originals = [p for p in PARAMETERS.values() if p.env and not p.env.startswith("STT_")]
    assert all(p.env == p.name.upper() for p in originals) and len(originals) == 22


def test_evaluate_range_parser():
    assert parse_evaluate_range("") is None
    assert parse_evaluate_range("0.9,1.5,100") == (0.9, 1.5, 100)
    with pytest.raises(ValueError):
        parse_evaluate_range("0,1,1")


def test_unknown_language_pack(tmp_path, step):
    run = step("alphabet", "--data-root", str(tmp_path), "--language", "xx")
    assert run.returncode == EXIT_BAD_INPUT and "no language pack 'xx'" in run.stderr


def test_usage_error_exits_2(step):
    assert step("import").returncode == EXIT_BAD_INPUT


@pytest.mark.parametrize("name,option", [("train", "--alphabet"), ("optimize-lm", "--scorer"), ("test", "--scorer"),
                                         ("export", "--alphabet"), ("transcribe", "--model"), ("package", "--scorer"),
                                         ("lm", "--alphabet")])
def test_a_given_input_that_does_not_exist_exits_2_naming_the_file(tmp_path, step, name, option):
    missing = tmp_path / "lm" / "missing"
    run = step(name, "--data-root", str(tmp_path), option, str(missing))
    assert run.returncode == EXIT_BAD_INPUT and run.stdout == ""
    assert "{} {}: no such file".format(option, missing) in run.stderr and "leave {} out".format(option) in run.stderr


def test_a_given_input_outside_the_data_root_is_refused(tmp_path, step):
    (tmp_path / "data").mkdir()
    (tmp_path / "elsewhere.tflite").write_bytes(b"x")
    run = step("package", "--data-root", str(tmp_path / "data"), "--model", str(tmp_path / "elsewhere.tflite"))
    assert run.returncode == EXIT_BAD_INPUT
    assert "--model {}: outside the data root {}".format(tmp_path / "elsewhere.tflite", tmp_path / "data") in run.stderr


def test_an_empty_input_is_the_default(tmp_path, step):
    """What the DAG passes when the upstream task left no result: ``--scorer=``."""
    run = step("package", "--data-root", str(tmp_path), "--model=")
    assert run.returncode == EXIT_BAD_INPUT
    assert "{} is missing: run the export step first".format(tmp_path / "models" / "output_graph.tflite") in run.stderr
    # the lm step's scorer is absent, as by default: no scorer, so nothing to tune (skipped), not a bad input
    run = step("optimize-lm", "--data-root", str(tmp_path), "--lm-evaluate-range", "1,1,2", "--scorer=")
    assert run.returncode == EXIT_NOTHING_TO_DO and "no scorer at {}".format(tmp_path / "lm" / "kenlm.scorer") in run.stderr


def _without_root_privileges() -> List[str]:
    """A command prefix that runs as root but without bypassing file modes (tests run as root here)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to drop root's file-mode override")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
            "-dac_override,-dac_read_search"]


def test_a_data_root_the_step_may_not_write_is_one_line_exit_78(sample_data_root):
    root = sample_data_root.root
    os.chmod(str(root / "extracted"), 0o555)
    try:
        run = subprocess.run(_without_root_privileges() + [sys.executable, "-m", "stt_tasks", "import", "common-voice",
                                                           "--data-root", str(root)],
                             capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(str(root / "extracted"), 0o755)
    assert run.returncode == EXIT_SETUP, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    errors = [line for line in run.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "permission denied: {}".format(root / "extracted") in errors[0]
    assert "chown -R 999:999 {}".format(root) in errors[0]
