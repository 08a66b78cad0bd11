"""Clips exactly at the edge of what CTC can align in coqui's features, generated as 16 kHz WAVs.

coqui 1.4.0 takes a 512-sample window every 320 samples (32 ms / 20 ms at 16 kHz): ``n`` samples give
``1 + (n - 512) // 320`` frames. A transcript needs one frame per character plus one per repeated pair.
The sample counts are written out rather than computed with ``stt_tasks.ctc``, so that the tests check
that module instead of repeating it. Each "short" clip is the longest one with a frame too few, and
each passes the importers' former rule (``duration_ms // 20 >= characters``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, NamedTuple

import numpy as np

from stt_tasks import audio


class BoundaryClip(NamedTuple):
    name: str
    transcript: str
    samples: int
    alignable: bool


BOUNDARY_CLIPS: List[BoundaryClip] = [
    # "bonjour": 7 characters, no repeat: 7 frames = 512 + 6 * 320 samples
    BoundaryClip("bonjour_enough", "bonjour", 2432, True),
    BoundaryClip("bonjour_short", "bonjour", 2431, False),  # 6 frames: TensorFlow's "Not enough time"
    # "elle": 4 characters and "ll": 5 frames = 512 + 4 * 320
    BoundaryClip("elle_enough", "elle", 1792, True),
    BoundaryClip("elle_short", "elle", 1791, False),  # 4 frames: one per character, none for the repeat
    # "elle appelle": 12 characters, repeats "ll", "pp", "ll": 15 frames = 512 + 14 * 320
    BoundaryClip("elle_appelle_enough", "elle appelle", 4992, True),
    BoundaryClip("elle_appelle_short", "elle appelle", 4991, False),
    # "un": shorter than one window is no frame at all
    BoundaryClip("un_enough", "un", 832, True),
    BoundaryClip("un_short", "un", 831, False),
]


def write_boundary_clips(folder: Path) -> Dict[str, Path]:
    """The boundary clips as 16-bit mono 16 kHz WAVs (a quiet tone) in ``folder``, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for clip in BOUNDARY_CLIPS:
        t = np.arange(clip.samples) / audio.TARGET_RATE
        pcm = audio.to_pcm16((0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), audio.TARGET_RATE)
        path = folder / (clip.name + ".wav")
        audio.write_wav(path, pcm)
        paths[clip.name] = path
    return paths
