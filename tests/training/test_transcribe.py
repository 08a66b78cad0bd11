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
    (trained_root.models / "test_output.json").write_text(json.dumps(samples), encoding="utf-8")
    (trained_root.models / "test_summary.json").write_text(json.dumps(
        {"decoder": decoder_settings(trained_root, PARAMS)}), encoding="utf-8")
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
    other.write_bytes(b"other")
    with pytest.raises(BadInputError, match="decoder settings changed since the test step"):
        transcribe_dev(tested_root, PARAMS, scorer=other)
