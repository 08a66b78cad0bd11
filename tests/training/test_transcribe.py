"""The transcribe step's inputs: the model and scorer it is given, else the export and lm steps' outputs."""

from __future__ import annotations

import json

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.training import transcribe
from stt_tasks.training.datasets import wav_paths
from stt_tasks.training.evaluate import decoder_settings
from stt_tasks.training.transcribe import transcribe_dev

PARAMS = {"beam_width": 100, "lm_alpha": 0.5, "lm_beta": 1.0}


@pytest.fixture
def tested_root(trained_root):
    """After the test step, which decoded the dev clips with the lm step's scorer."""
    dev_csv = trained_root.data / "cv-fr" / "cv-fr_dev.csv"
    samples = [{"wav_filename": wav, "src": "la mer", "res": "la mer"} for wav in wav_paths(dev_csv)]
    trained_root.test_output.write_text(json.dumps(samples), encoding="utf-8")
    trained_root.test_summary.write_text(json.dumps(
        {"decoder": decoder_settings(trained_root, PARAMS), "test_output": str(trained_root.test_output)}),
        encoding="utf-8")
    return trained_root


def test_the_given_model_and_scorer_are_loaded(tested_root, monkeypatch):
    loaded = []
    monkeypatch.setattr(transcribe, "load_model", lambda *args: loaded.append(args) or "model")
    monkeypatch.setattr(transcribe, "transcribe", lambda model, clips: ["la mer"])
    model = tested_root.models / "candidate.tflite"
    model.write_bytes(b"tflite")
    result = transcribe_dev(tested_root, PARAMS, model=model, scorer=tested_root.scorer)
    assert loaded == [(model, tested_root.scorer, 100, 0.5, 1.0)]
    assert result["model"] == str(model) and result["wer_difference"] == 0.0


def test_without_the_exported_model_it_says_to_run_export(tested_root):
    with pytest.raises(BadInputError, match="output_graph.tflite is missing: run the export step first"):
        transcribe_dev(tested_root, PARAMS)


def test_another_scorer_than_the_test_steps_is_refused(tested_root):
    tested_root.model.write_bytes(b"tflite")
    other = tested_root.lm / "other.scorer"
    other.write_bytes(tested_root.scorer.read_bytes())
    with pytest.raises(BadInputError, match="decoder settings changed since the test step"):
        transcribe_dev(tested_root, PARAMS, scorer=other)


def test_the_given_test_summary_and_the_output_it_names_are_what_it_compares_with(tested_root, monkeypatch):
    monkeypatch.setattr(transcribe, "load_model", lambda *args: "model")
    monkeypatch.setattr(transcribe, "transcribe", lambda model, clips: ["la mer"])
    tested_root.model.write_bytes(b"tflite")
    elsewhere = tested_root.root / "run-2"
    elsewhere.mkdir()
    output = elsewhere / "samples.json"
    samples = json.loads(tested_root.test_output.read_text(encoding="utf-8"))
    output.write_text(json.dumps([dict(s, res="la") for s in samples]), encoding="utf-8")
    summary = elsewhere / "summary.json"
    summary.write_text(json.dumps({"decoder": decoder_settings(tested_root, PARAMS), "test_output": str(output)}),
                       encoding="utf-8")
    # the checkpoint's transcripts are those of the summary given: one word of two wrong, the runtime's right
    disagreement = "WER 0.000 in the stt runtime but 0.500 from the checkpoint"
    with pytest.raises(transcribe.DisagreementError, match=disagreement):
        transcribe_dev(tested_root, PARAMS, test_summary=summary)
    assert transcribe_dev(tested_root, PARAMS)["checkpoint_wer"] == 0.0  # the default: the test step's summary
    tested_root.test_summary.unlink()
    with pytest.raises(BadInputError, match="test_summary.json is missing: run the test step first"):
        transcribe_dev(tested_root, PARAMS)
