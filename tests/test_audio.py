"""Decoding and conversion to 16 kHz mono 16-bit PCM."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from stt_tasks import audio


@pytest.mark.parametrize("fmt,subtype,suffix", [("WAV", "PCM_16", ".wav"), ("FLAC", "PCM_16", ".flac"),
                                                 ("OGG", "VORBIS", ".ogg"), ("OGG", "OPUS", ".opus"),
                                                 ("MP3", None, ".mp3")])
def test_formats_decode_to_the_right_duration(tmp_path, fmt, subtype, suffix):
    rate = 48000 if fmt in ("OGG", "MP3") else 44100
    t = np.arange(int(rate * 1.5)) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)], axis=1)
    path = tmp_path / ("clip" + suffix)
    soundfile.write(str(path), stereo, rate, format=fmt, subtype=subtype)
    samples, decoded_rate = audio.decode(path)
    pcm = audio.to_pcm16(samples, decoded_rate)
    assert samples.ndim == 1 and pcm.dtype == np.dtype("<i2")
    assert abs(len(pcm) / 16000 - 1.5) < 0.1
    assert 0.1 < np.abs(pcm).max() / 32767 < 0.7


def test_garbage_is_a_decode_error_without_the_path(tmp_path):
    path = tmp_path / "secret-folder" / "x.mp3"
    path.parent.mkdir()
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(audio.AudioDecodeError) as raised:
        audio.decode(path)
    assert "secret-folder" not in str(raised.value)


def test_written_wav_round_trips(tmp_path):
    pcm = (np.sin(np.arange(16000) / 10) * 10000).astype("<i2")
    size = audio.write_wav(tmp_path / "a.wav", pcm)
    assert size == 44 + 2 * 16000 == (tmp_path / "a.wav").stat().st_size
    assert audio.wav_frames(tmp_path / "a.wav") == 16000
    assert not list(tmp_path.glob(".*"))
