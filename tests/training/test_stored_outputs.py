"""Decoding stored outputs with coqui's decoder (the real wheel, in the decoder venv): the transcripts of
coqui's own batched decode of the same arrays, whatever the weights, with reset_params on one scorer."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.lm.support import FIXTURES, REPOSITORY
from tests.lm.test_decoder import decoder_python  # noqa: F401  (the fixture)

SCRIPT = Path(__file__).with_name("decode_stored.py")
WEIGHTS = ("0.0,0.0", "1.5,0.5", "0.4,3.0")


@pytest.mark.slow
def test_stored_outputs_decode_as_coqui_decodes_its_batches(decoder_python):  # noqa: F811
    done = subprocess.run([str(decoder_python), str(SCRIPT), str(FIXTURES / "pruned_lm.scorer"),
                           str(FIXTURES / "alphabet.txt"), *WEIGHTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=dict(os.environ, PYTHONPATH=str(REPOSITORY)))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["stored"] == result["coqui"] == result["fresh"]
    assert len({tuple(t) for t in result["stored"]}) == len(WEIGHTS)  # the weights change transcripts
    assert all(len(t) == 90 and any(t) for t in result["stored"])
    # coqui's order: ascending WER, then descending loss among equals
    keys = [(s["wer"], -s["loss"]) for s in result["samples"]]
    assert keys == sorted(keys) and set(result["samples"][0]) == {
        "wav_filename", "src", "res", "loss", "char_distance", "char_length", "word_distance", "word_length", "cer",
        "wer"}
