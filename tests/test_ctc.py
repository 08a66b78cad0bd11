"""What CTC can align, counted as coqui counts: frames from samples, labels plus repeated pairs."""

from __future__ import annotations

import pytest

from stt_tasks.ctc import COQUI_FEATURES, FeatureWindow, can_align, frames_needed
from tests.boundary_clips import BOUNDARY_CLIPS


@pytest.mark.parametrize("samples, frames", [(0, 0), (511, 0), (512, 1), (831, 1), (832, 2), (16000, 49),
                                             (16031, 49), (16032, 49), (16192, 50)])
def test_frames_are_whole_spectrogram_windows(samples, frames):
    # Measured with TensorFlow's audio_spectrogram (window 512, stride 320) in the CPU image.
    assert COQUI_FEATURES.frames(samples) == frames


def test_other_windows_follow_coquis_flags():
    assert FeatureWindow(audio_sample_rate=8000).frames(256) == 1
    assert FeatureWindow(feature_win_len=25, feature_win_step=10).frames(400 + 160) == 2


@pytest.mark.parametrize("transcript, needed", [("", 0), ("a", 1), ("bonjour", 7), ("elle", 5), ("aaa", 5),
                                                ("elle appelle", 15), ("l l", 3)])
def test_frames_needed_count_each_repeated_pair(transcript, needed):
    assert frames_needed(transcript) == needed


@pytest.mark.parametrize("clip", BOUNDARY_CLIPS, ids=lambda clip: clip.name)
def test_boundary_clips(clip):
    assert can_align(clip.samples, clip.transcript) is clip.alignable
    duration_ms = clip.samples * 1000 // 16000
    assert duration_ms // 20 >= len(clip.transcript)  # the former rule kept every one of them
