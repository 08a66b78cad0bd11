"""The test step's inputs: the alphabet and scorer it is given, else the alphabet and lm steps' outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stt_tasks.parameters import PARAMETERS
from stt_tasks.training import evaluate
from stt_tasks.training.datasets import wav_paths
from stt_tasks.training.evaluate import scorer_path

PARAMS = {name: PARAMETERS[name].parse(PARAMETERS[name].default) for name in ("batch_size", "beam_width", "lm_alpha",
                                                                              "lm_beta")}


@pytest.fixture
def coqui(monkeypatch):
    """Records coqui's evaluation flags and transcribes every clip right."""
    runs = []

    def run_coqui(module, flags, extra_env=None, on_line=None):
        runs.append(dict(flags))
        samples = [{"wav_filename": wav, "src": "la mer", "res": "la mer", "wer": 0.0, "cer": 0.0, "loss": 1.0}
                   for csv_path in flags["test_files"] for wav in wav_paths(Path(csv_path))]
        Path(flags["test_output_file"]).write_text(json.dumps(samples), encoding="utf-8")
        return []

    monkeypatch.setattr(evaluate, "run_coqui", run_coqui)
    return runs


def test_the_scorer_is_the_one_given_else_the_lm_steps_when_present(trained_root):
    given = trained_root.lm / "tuned.scorer"
    assert scorer_path(trained_root, given) == given
    assert scorer_path(trained_root) == trained_root.scorer
    trained_root.scorer.unlink()
    assert scorer_path(trained_root) is None  # decoding without a scorer is allowed


def test_the_given_alphabet_and_scorer_are_what_coqui_decodes_with(trained_root, coqui):
    alphabet = trained_root.models / "other_alphabet.txt"
    alphabet.write_text(trained_root.alphabet.read_text(encoding="utf-8"), encoding="utf-8")
    scorer = trained_root.lm / "tuned.scorer"
    scorer.write_bytes(b"tuned")
    result = evaluate.test(trained_root, PARAMS, alphabet=alphabet, scorer=scorer)
    [flags] = coqui
    assert flags["alphabet_config_path"] == str(alphabet) and flags["scorer_path"] == str(scorer)
    assert result["decoder"]["scorer"] == str(scorer) and result["wer"] == 0.0


def test_by_default_the_alphabet_and_lm_steps_outputs_or_no_scorer(trained_root, coqui):
    evaluate.test(trained_root, PARAMS)
    trained_root.scorer.unlink()
    result = evaluate.test(trained_root, PARAMS)  # the scorer is gone: a new evaluation, without one
    assert [(f["alphabet_config_path"], f["scorer_path"]) for f in coqui] == [
        (str(trained_root.alphabet), str(trained_root.scorer)), (str(trained_root.alphabet), "")]
    assert result["decoder"]["scorer"] is None
