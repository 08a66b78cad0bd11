"""Whether CTC can align a transcript with a clip, counted as coqui 1.4.0 counts.

coqui's features are one MFCC vector per spectrogram window (``util/feeding.py``: TensorFlow's
``audio_spectrogram`` with ``feature_win_len`` 32 ms windows every ``feature_win_step`` 20 ms at
``audio_sample_rate`` 16 kHz), and a window is only taken whole: ``1 + (samples - window) // step``
frames, none for a clip shorter than one window. CTC then needs a frame per label, plus one per
repeated consecutive label ("ll", "ss"), since a blank must separate two equal labels. With fewer
frames than labels TensorFlow stops the training ("Not enough time for target transition
sequence", mozilla/DeepSpeech#1629); with too few for the repeats the loss is infinite. So the
importers drop such clips as too short and the train step leaves out any a hand-written CSV holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class FeatureWindow:
    """coqui's feature extraction: sample rate, window length and step (its flags of the same names)."""

    audio_sample_rate: int = 16000
    feature_win_len: int = 32
    feature_win_step: int = 20

    @property
    def window_samples(self) -> int:
        return self.audio_sample_rate * self.feature_win_len // 1000

    @property
    def step_samples(self) -> int:
        return self.audio_sample_rate * self.feature_win_step // 1000

    def frames(self, samples: int) -> int:
        """Feature frames coqui computes for a clip of ``samples`` samples (whole windows only)."""
        if samples < self.window_samples:
            return 0
        return 1 + (samples - self.window_samples) // self.step_samples

    def describe(self) -> str:
        """The window as recorded with an import (a change re-imports: other clips are too short)."""
        return "{} Hz, {} ms windows every {} ms".format(self.audio_sample_rate, self.feature_win_len,
                                                          self.feature_win_step)


#: coqui's defaults, which the pipeline never changes.
COQUI_FEATURES = FeatureWindow()


def frames_needed(labels: Sequence[str]) -> int:
    """Frames CTC needs for ``labels`` (a transcript's characters): one each, plus one per repeated pair."""
    repeats = sum(1 for previous, label in zip(labels, labels[1:]) if previous == label)
    return len(labels) + repeats


def can_align(samples: int, transcript: str, window: FeatureWindow = COQUI_FEATURES) -> bool:
    """True when CTC can align ``transcript`` with a clip of ``samples`` samples in coqui's features."""
    return window.frames(samples) >= frames_needed(transcript)
