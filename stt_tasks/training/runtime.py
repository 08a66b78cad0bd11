"""Transcribing with the exported model in the ``stt`` 1.4.0 runtime (what users will run).

This is the check that catches a bad TFLite export (the converter trap of tf2-compat.md): a model
that trains and tests well in TensorFlow but loads wrongly or crashes in ``libstt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional

from stt_tasks.errors import BadInputError


def load_model(model: Path, scorer: Optional[Path] = None, beam_width: Optional[int] = None,
               lm_alpha: Optional[float] = None, lm_beta: Optional[float] = None) -> "object":
    """An ``stt.Model`` for ``model``, with the scorer and decoder settings applied."""
    import stt

    if not model.is_file():
        raise BadInputError("{}: no exported model; run the export step first.".format(model))
    loaded = stt.Model(str(model))
    if beam_width:
        loaded.setBeamWidth(beam_width)
    if scorer is not None:
        loaded.enableExternalScorer(str(scorer))
        if lm_alpha is not None and lm_beta is not None:
            loaded.setScorerAlphaBeta(lm_alpha, lm_beta)
    return loaded


def transcribe(loaded: "object", clips: Iterable[Path]) -> List[str]:
    """Transcripts of 16-bit WAV clips at the model's sample rate."""
    import numpy as np
    import soundfile

    rate = loaded.sampleRate()  # type: ignore[attr-defined]
    transcripts = []
    for clip in clips:
        audio, clip_rate = soundfile.read(str(clip), dtype="int16")
        if clip_rate != rate:
            raise BadInputError("{}: {} Hz, the model expects {} Hz; re-run its importer.".format(clip, clip_rate, rate))
        if audio.ndim > 1:
            audio = audio[:, 0]
        transcripts.append(loaded.stt(np.ascontiguousarray(audio)))  # type: ignore[attr-defined]
    return transcripts
