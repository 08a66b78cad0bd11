"""Audio decoding, resampling and WAV writing for the importers.

Measured on a 3.6 s, 48 kHz mp3 (the Common Voice format), per clip: miniaudio 1.7 ms,
soundfile/libsndfile 2.2 ms, one ``sox`` subprocess 7.3 ms, one ``ffmpeg`` subprocess 44 ms.
So mp3, FLAC, WAV and Ogg/Vorbis are decoded in-process with miniaudio; other formats (Opus) go
through libsndfile; ``ffmpeg`` is the last resort for anything neither can read. Resampling uses
libsoxr (the resampler SoX itself uses), so outputs match what the original SoX pipeline aimed at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Callable, Dict, Tuple

import miniaudio
import numpy as np
import soundfile
import soxr

from stt_tasks.fsio import atomic_path

TARGET_RATE = 16000


class AudioDecodeError(Exception):
    """A clip could not be decoded (empty, truncated beyond repair, not audio)."""


def _from_miniaudio(decoded: "miniaudio.DecodedSoundFile") -> Tuple[np.ndarray, int]:
    samples = np.frombuffer(decoded.samples, dtype=np.float32)
    if decoded.nchannels > 1:
        samples = samples.reshape(-1, decoded.nchannels).mean(axis=1)
    return samples, decoded.sample_rate


def _vorbis(path: str) -> Tuple[np.ndarray, int]:
    decoded = miniaudio.vorbis_read_file(path)
    samples = np.frombuffer(decoded.samples, dtype=np.int16).astype(np.float32) / 32768.0
    if decoded.nchannels > 1:
        samples = samples.reshape(-1, decoded.nchannels).mean(axis=1)
    return samples, decoded.sample_rate


_MINIAUDIO_READERS: Dict[str, Callable[[str], Tuple[np.ndarray, int]]] = {
    ".mp3": lambda p: _from_miniaudio(miniaudio.mp3_read_file_f32(p)),
    ".flac": lambda p: _from_miniaudio(miniaudio.flac_read_file_f32(p)),
    ".wav": lambda p: _from_miniaudio(miniaudio.wav_read_file_f32(p)),
    ".ogg": _vorbis,
}


def _with_soundfile(path: str) -> Tuple[np.ndarray, int]:
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate


def _with_ffmpeg(path: str) -> Tuple[np.ndarray, int]:
    if shutil.which("ffmpeg") is None:
        raise AudioDecodeError("no in-process decoder can read this file and ffmpeg is not installed")
    completed = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-ac", "1", "-ar", str(TARGET_RATE), "-f", "f32le", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if completed.returncode != 0:
        # ffmpeg names its decoder by address ("[ogg @ 0x55cc...]"): drop it so reports are reproducible.
        message = re.sub(r" @ 0x[0-9a-f]+", "", completed.stderr.decode("utf-8", "replace").strip())
        raise AudioDecodeError(message or "ffmpeg failed")
    return np.frombuffer(completed.stdout, dtype=np.float32), TARGET_RATE


def decode(path: Path) -> Tuple[np.ndarray, int]:
    """Mono float32 samples and their sample rate; raises AudioDecodeError."""
    name = str(path)
    reader = _MINIAUDIO_READERS.get(path.suffix.lower())
    attempts = [reader] if reader else []
    attempts += [_with_soundfile, _with_ffmpeg]
    errors = []
    for attempt in attempts:
        try:
            samples, rate = attempt(name)
        except AudioDecodeError as error:
            errors.append(str(error))
            continue
        except Exception as error:  # decoders raise many types; any means "try the next one"
            errors.append("{}: {}".format(type(error).__name__, error))
            continue
        if samples.size == 0:
            raise AudioDecodeError("no audio samples")
        return samples, rate
    # The first decoder's reason, without the path (reports must not depend on where data lives).
    raise AudioDecodeError(errors[0].replace(name, path.name))


def decode_segment(path: Path, start: float, end: float) -> Tuple[np.ndarray, int]:
    """Mono float32 samples of ``[start, end)`` seconds of ``path``; raises AudioDecodeError.

    A segment of a long recording is read by seeking (libsndfile), so cutting hundreds of segments
    from one conference does not decode it hundreds of times; other formats are decoded whole.
    """
    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            first, last = int(round(start * rate)), int(round(end * rate))
            if handle.seekable():
                handle.seek(min(first, handle.frames))
                samples = handle.read(max(0, last - first), dtype="float32", always_2d=True).mean(axis=1)
            else:
                samples = handle.read(dtype="float32", always_2d=True).mean(axis=1)[first:last]
    except RuntimeError:  # libsndfile cannot read it: decode whole with the other decoders
        whole, rate = decode(path)
        samples = whole[int(round(start * rate)) : int(round(end * rate))]
    if samples.size == 0:
        raise AudioDecodeError("segment {:.2f}-{:.2f} s is empty (past the end of the recording?)".format(start, end))
    return samples, rate


def to_pcm16(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample to 16 kHz and quantise to 16-bit PCM."""
    if rate != TARGET_RATE:
        samples = soxr.resample(samples, rate, TARGET_RATE)
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")


def write_wav(path: Path, pcm: np.ndarray) -> int:
    """Write 16 kHz mono 16-bit PCM atomically; returns the file size in bytes."""
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(TARGET_RATE)
        out.writeframes(pcm.tobytes())
    return path.stat().st_size


def wav_size(frames: int) -> int:
    """Bytes of the WAV :func:`write_wav` writes for ``frames`` samples (a 44-byte header, 2 bytes each)."""
    return 44 + 2 * frames


def wav_frames(path: Path) -> int:
    """Number of frames of a 16 kHz mono 16-bit WAV written by :func:`write_wav`."""
    with wave.open(str(path), "rb") as clip:
        if clip.getframerate() != TARGET_RATE or clip.getnchannels() != 1 or clip.getsampwidth() != 2:
            raise AudioDecodeError("{} is not 16 kHz mono 16-bit".format(path))
        return clip.getnframes()
