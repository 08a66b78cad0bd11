"""Builders of hand-made Common Voice releases for tests (real layout, real mp3 clips)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import tarfile

from stt_tasks.sample_corpus import write_release

HEADER_7 = ("client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent", "locale", "segment")
HEADER_17 = (
    "client_id",
    "path",
    "sentence_id",
    "sentence",
    "sentence_domain",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accents",
    "variant",
    "locale",
    "segment",
)


def client(name: str) -> str:
    return hashlib.sha512(name.encode()).hexdigest()


def row(header: Sequence[str], speaker: str, clip: str, sentence: str) -> List[str]:
    values = {"client_id": client(speaker), "path": clip, "sentence": sentence, "locale": "fr", "up_votes": "2"}
    return [values.get(column, "") for column in header]


def tsv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    return "".join("\t".join(r) + "\n" for r in [list(header)] + [list(r) for r in rows]).encode("utf-8")


def make_release(
    sources: Path,
    clips: Sequence[Tuple[str, bytes]],
    tables: Dict[str, bytes],
    name: str = "cv-corpus-98.0-2025-01-01-fr.tar.gz",
    extra_members: Sequence[Tuple[tarfile.TarInfo, Optional[bytes]]] = (),
) -> Path:
    sources.mkdir(parents=True, exist_ok=True)
    archive = sources / name
    write_release(archive, "fr", clips, tables, extra_members)  # type: ignore[arg-type]
    return archive


def small_release(
    sources: Path,
    payloads: Sequence[bytes],
    name: str = "cv-corpus-98.0-2025-01-01-fr.tar.gz",
    extra: Sequence[Tuple[tarfile.TarInfo, Optional[bytes]]] = (),
    splits: Sequence[str] = ("train", "dev", "test"),
) -> Path:
    """A release of one clip per TSV of ``splits`` (a delta has only ``validated``)."""
    tables = {split: tsv(HEADER_7, [row(HEADER_7, split, "{}.mp3".format(split), "bonjour")]) for split in splits}
    clips = [("{}.mp3".format(split), payloads[3]) for split in splits]
    return make_release(sources, clips, tables, name=name, extra_members=extra)
