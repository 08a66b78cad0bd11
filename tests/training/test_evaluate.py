"""The test step's inputs: the alphabet and scorer it is given, else the alphabet and lm steps' outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stt_tasks.parameters import PARAMETERS
from stt_tasks.training import evaluate
from stt_tasks.training.datasets import wav_paths
from stt_tasks.errors import BadInputError
from stt_tasks.lm.scorer import float32
from stt_tasks.training.evaluate import decoder_settings, scorer_path

PARAMS = {name: PARAMETERS[name].parse(PARAMETERS[name].default) for name in ("batch_size", "beam_width", "lm_alpha",
                                                                              "lm_beta")}


@pytest.fixture
def coqui(monkeypatch, acoustic_pass):
    """Records the decoder settings of each test (the decoder runs in the image); every clip decoded right."""
    runs = []

    def decode(root, csvs, alphabet, decoder, batch_size):
        runs.append({"alphabet_config_path": str(alphabet), "scorer_path": decoder["scorer"] or "", "csvs": csvs})
        samples = [{"wav_filename": wav, "src": "la mer", "res": "la mer", "wer": 0.0, "cer": 0.0, "loss": 1.0}
                   for csv_path in csvs for wav in wav_paths(Path(csv_path))]
        return samples, {"computed": 0, "reused": len(csvs)}

    monkeypatch.setattr(evaluate, "decode_with_stored_outputs", decode)
    return runs


def test_the_scorer_is_the_one_given_else_the_lm_steps_when_present(trained_root, scorer_package):
    given = scorer_package(trained_root.lm / "tuned.scorer", trained_root.alphabet)
    assert scorer_path(trained_root, given) == given
    assert scorer_path(trained_root) == trained_root.scorer
    trained_root.scorer.unlink()
    assert scorer_path(trained_root) is None  # decoding without a scorer is allowed


def test_the_given_alphabet_and_scorer_are_what_coqui_decodes_with(trained_root, coqui, scorer_package):
    alphabet = trained_root.models / "other_alphabet.txt"
    alphabet.write_text(trained_root.alphabet.read_text(encoding="utf-8"), encoding="utf-8")
    scorer = scorer_package(trained_root.lm / "tuned.scorer", alphabet, alpha=0.5, beta=1.5)
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


def test_alpha_and_beta_not_chosen_are_the_given_scorer_packages_own(trained_root, scorer_package):
    tuned = scorer_package(trained_root.tuned_scorer, trained_root.alphabet, alpha=0.6, beta=1.3)
    decoder = decoder_settings(trained_root, PARAMS, tuned)  # LM_ALPHA = LM_BETA = 0.0: not chosen
    assert decoder == {"scorer": str(tuned), "beam_width": PARAMS["beam_width"], "lm_alpha": float32(0.6),
                       "lm_beta": float32(1.3), "alpha_beta_from": str(tuned)}
    # a stale tuning file of the former layout is not what decides
    trained_root.tuning.write_text('{"lm_alpha": 3.0, "lm_beta": 3.0}', encoding="utf-8")
    assert decoder_settings(trained_root, PARAMS)["lm_alpha"] == 0.0  # the lm step's package: 0.0, 0.0
    assert decoder_settings(trained_root, PARAMS)["alpha_beta_from"] == str(trained_root.scorer)


def test_alpha_and_beta_chosen_are_used_as_they_are(trained_root, scorer_package):
    tuned = scorer_package(trained_root.tuned_scorer, trained_root.alphabet, alpha=0.6, beta=1.3)
    decoder = decoder_settings(trained_root, dict(PARAMS, lm_alpha=0.25, lm_beta=0.0), tuned)
    assert (decoder["lm_alpha"], decoder["lm_beta"], decoder["alpha_beta_from"]) == (0.25, 0.0, "parameters")
    trained_root.scorer.unlink()
    assert decoder_settings(trained_root, PARAMS)["alpha_beta_from"] == "parameters"  # no scorer at all


def test_a_file_that_is_not_a_scorer_package_is_refused_with_its_name(trained_root):
    broken = trained_root.lm / "broken.scorer"
    broken.write_bytes(trained_root.scorer.read_bytes()[:-4])  # truncated: the dictionary no longer fits
    with pytest.raises(BadInputError, match="broken.scorer: not a Coqui scorer package"):
        decoder_settings(trained_root, PARAMS, broken)


def test_the_summary_names_its_test_output_and_a_changed_scorer_is_a_new_test(trained_root, coqui, scorer_package):
    first = evaluate.test(trained_root, PARAMS)
    summary = json.loads(trained_root.test_summary.read_text(encoding="utf-8"))
    assert first["summary"] == str(trained_root.test_summary) and first["test_output"] == str(trained_root.test_output)
    assert summary["test_output"] == first["test_output"]
    assert evaluate.test(trained_root, PARAMS)["skipped"]
    scorer_package(trained_root.scorer, trained_root.alphabet, alpha=0.0, beta=0.5)  # same size, new bytes
    again = evaluate.test(trained_root, PARAMS)
    assert not again["skipped"] and again["decoder"]["lm_beta"] == 0.5 and len(coqui) == 2
