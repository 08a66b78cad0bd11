"""Decoder tuning's inputs: it tunes the scorer it is given, and re-packages only the one the lm step built."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stt_tasks.parameters import PARAMETERS
from stt_tasks.training import optimize
from stt_tasks.training.optimize import optimize_lm

PARAMS = dict({name: PARAMETERS[name].parse(PARAMETERS[name].default) for name in ("batch_size", "beam_width")},
              lm_evaluate_range=(2.0, 2.0, 3))


@pytest.fixture
def search(monkeypatch):
    """Records coqui's search flags and the ``lm --rebuild-scorer`` commands; the search finds 0.5, 1.5."""
    calls = {"flags": [], "rebuild": []}

    def run_coqui(module, flags, extra_env=None, on_line=None):
        calls["flags"].append(dict(flags))
        settings = json.loads(extra_env["STT_LM_SEARCH"])
        Path(settings["output"]).write_text(json.dumps({"lm_alpha": 0.5, "lm_beta": 1.5, "wer": 0.2, "metric": "wer",
                                                        "trials": 3, "resumed_from": 0}), encoding="utf-8")
        return []

    def run(command, **kwargs):
        calls["rebuild"].append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(optimize, "run_coqui", run_coqui)
    monkeypatch.setattr(optimize.subprocess, "run", run)
    return calls


def test_the_lm_steps_scorer_is_tuned_and_re_packaged_with_the_given_alphabet(trained_root, search):
    alphabet = trained_root.models / "other_alphabet.txt"
    alphabet.write_text(trained_root.alphabet.read_text(encoding="utf-8"), encoding="utf-8")
    result = optimize_lm(trained_root, PARAMS, alphabet=alphabet, scorer=trained_root.scorer)
    [flags] = search["flags"]
    assert flags["alphabet_config_path"] == str(alphabet) and flags["scorer_path"] == str(trained_root.scorer)
    [command] = search["rebuild"]
    assert command[command.index("--alphabet") + 1] == str(alphabet) and "--rebuild-scorer" in command
    assert result["scorer_rebuilt"] and (result["lm_alpha"], result["lm_beta"]) == (0.5, 1.5)


def test_a_scorer_the_lm_step_did_not_build_is_tuned_but_not_re_packaged(trained_root, search):
    released = trained_root.root / "released" / "kenlm.scorer"
    released.parent.mkdir()
    released.write_bytes(b"someone else's scorer")
    result = optimize_lm(trained_root, PARAMS, scorer=released)
    assert search["flags"][0]["scorer_path"] == str(released)
    assert search["flags"][0]["alphabet_config_path"] == str(trained_root.alphabet)  # the default
    assert search["rebuild"] == [] and not result["scorer_rebuilt"]
    assert json.loads((trained_root.lm / "opt_lm.json").read_text())["lm_alpha"] == 0.5  # recorded for test/export
