"""A small, deterministic French corpus in the exact Common Voice release layout.

Clips are synthesised with espeak-ng: each speaker is a voice, variant, speed and pitch, and every
speaker reads every sample sentence, so a tiny model can learn them in minutes on CPU. Unlike a
real release, dev and test share sentences with train (only speakers differ): that is what lets a
model over-trained on the sample reach a low WER in a demo. One clip with digits (dropped by the
label rules) and one corrupt mp3 show how bad input is reported; ``bad_clips=False`` leaves them out.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import soundfile
import soxr

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import atomic_output, sha256_file, write_text_atomic
from stt_tasks.languages import LanguagePack
from stt_tasks.progress import LOG

RELEASE_VERSION = "99.0"
RELEASE_DATE = "2026-01-01"
CV_RATE = 48000
HEADER = ("client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accents", "locale", "segment")


@dataclass(frozen=True)
class Speaker:
    name: str
    voice: str
    speed: int
    pitch: int
    split: str
    gender: str

    @property
    def client_id(self) -> str:
        return hashlib.sha512(self.name.encode("utf-8")).hexdigest()


def speakers(language: str) -> Tuple[Speaker, ...]:
    """Eight synthetic speakers: six for train, one for dev, one for test."""
    voices = [
        ("+m1", 150, 45, "male"),
        ("+f2", 160, 60, "female"),
        ("+m3", 140, 35, "male"),
        ("+f4", 170, 70, "female"),
        ("+m7", 155, 50, "male"),
        ("+f1", 145, 55, "female"),
        ("+m2", 150, 40, "male"),
        ("+f3", 165, 65, "female"),
    ]
    splits = ["train"] * 6 + ["dev", "test"]
    return tuple(
        Speaker("speaker{}".format(i), language + variant, speed, pitch, split, gender)
        for i, ((variant, speed, pitch, gender), split) in enumerate(zip(voices, splits))
    )


def synthesise(speaker: Speaker, sentence: str) -> bytes:
    """MP3 bytes (48 kHz mono, like Common Voice clips) of ``speaker`` reading ``sentence``."""
    spoken = subprocess.run(
        ["espeak-ng", "-v", speaker.voice, "-s", str(speaker.speed), "-p", str(speaker.pitch), "--stdout", sentence],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=True,
    ).stdout
    samples, rate = soundfile.read(io.BytesIO(spoken), dtype="float32")
    samples = soxr.resample(samples, rate, CV_RATE).astype(np.float32)
    encoded = io.BytesIO()
    soundfile.write(encoded, samples, CV_RATE, format="MP3")
    return encoded.getvalue()


def _tsv(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> bytes:
    return "".join("\t".join(row) + "\n" for row in [tuple(header)] + list(rows)).encode("utf-8")


def release_filename(language: str, version: str = RELEASE_VERSION, date: str = RELEASE_DATE) -> str:
    """The upstream tarball name, ``cv-corpus-<version>-<date>-<lang>.tar.gz``."""
    return "cv-corpus-{}-{}-{}.tar.gz".format(version, date, language)


def write_release(
    archive: Path,
    language: str,
    clips: Sequence[Tuple[str, bytes]],
    tsvs: Mapping[str, bytes],
    extra_members: Sequence[Tuple[tarfile.TarInfo, bytes]] = (),
) -> None:
    """Write a reproducible (same input, same bytes) Common Voice release tarball atomically.

    ``tsvs`` maps a TSV's name without extension to its bytes; ``extra_members`` lets tests add
    hostile members (links, devices, ``..`` paths).
    """
    top = archive.name.rsplit("-", 1)[0]
    with atomic_output(archive, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
            with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for folder in (top, "{}/{}".format(top, language), "{}/{}/clips".format(top, language)):
                    _add_dir(tar, folder)
                for clip, payload in clips:
                    _add(tar, "{}/{}/clips/{}".format(top, language, clip), payload)
                for name in sorted(tsvs):
                    _add(tar, "{}/{}/{}.tsv".format(top, language, name), tsvs[name])
                for info, payload in extra_members:
                    tar.addfile(info, io.BytesIO(payload) if payload else None)


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(payload))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 0
    tar.addfile(info)


def build_sample_corpus(destination: Path, pack: LanguagePack, bad_clips: bool = True) -> Dict[str, Any]:
    """Write the release tarball and the LM text into ``destination``; return the step's result."""
    if shutil.which("espeak-ng") is None:
        raise BadInputError("espeak-ng is not installed: apt-get install espeak-ng (it synthesises the clips).")
    language = pack.code
    cast = speakers(language)
    sentences = pack.sample_sentences()
    plan: List[Tuple[Speaker, str]] = [(s, sentence) for s in cast for sentence in sentences]
    if bad_clips:
        plan.append((cast[0], "Rendez-vous à 8 heures précises."))
    LOG.info("synthesising %d clips with espeak-ng (%d speakers)", len(plan), len(cast))
    with ThreadPoolExecutor() as pool:
        audio = list(pool.map(lambda item: synthesise(*item), plan))
    if bad_clips:
        plan.append((cast[1], sentences[0]))
        audio.append(b"\x00" * 2048)  # a clip whose content was lost: undecodable by any decoder

    rows: Dict[str, List[Tuple[str, ...]]] = {"train": [], "dev": [], "test": []}
    clips: List[Tuple[str, bytes]] = []
    for number, ((speaker, sentence), payload) in enumerate(zip(plan, audio), start=1):
        clip = "common_voice_{}_{:08d}.mp3".format(language, 20000000 + number)
        clips.append((clip, payload))
        rows[speaker.split].append(
            (speaker.client_id, clip, sentence, "2", "0", "twenties", speaker.gender, "", language, "")
        )
    tables = {
        "train": rows["train"],
        "dev": rows["dev"],
        "test": rows["test"],
        "validated": rows["train"] + rows["dev"] + rows["test"],
        "invalidated": [],
        "other": [],
        "reported": [],
    }
    destination.mkdir(parents=True, exist_ok=True)
    archive = destination / release_filename(language)
    write_release(archive, language, clips, {name: _tsv(table) for name, table in tables.items()})
    lm_text = destination / "sample_lm_{}.txt".format(language)
    write_text_atomic(lm_text, "\n".join(pack.sample_lm_text()) + "\n")
    digest = sha256_file(archive)
    LOG.info("sample corpus %s (%d clips, sha256 %s)", archive, len(clips), digest)
    return {
        "archive": str(archive),
        "sha256": digest,
        "lm_text": str(lm_text),
        "clips": len(clips),
        "speakers": len(cast),
        "sentences": len(sentences),
    }
