"""LM text sources: which files, where they come from, and reading them as a stream of lines.

The language pack names its corpora (file name in ``sources/`` and the URL of the original
release); the user may add any text files; with ``lm_add_excluded_max_sec`` the transcripts of the
clips the importers dropped as too long for training are added too. Sources may be ``.xz``,
``.gz``, ``.bz2`` or plain text and are read in fixed-size blocks, so memory does not grow with
their size.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence

from stt_tasks import download
from stt_tasks.download import DownloadError  # noqa: F401 (what a failed download raises, for callers)
from stt_tasks.errors import BadInputError
from stt_tasks.languages import LanguagePack
from stt_tasks.progress import LOG

BLOCK_SIZE = 4 << 20

_OPENERS: Dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".xz": lambda raw: lzma.open(raw, "rb"),  # type: ignore[dict-item]
    ".gz": lambda raw: gzip.open(raw, "rb"),  # type: ignore[dict-item]
    ".bz2": lambda raw: bz2.open(raw, "rb"),  # type: ignore[dict-item]
}
# What each decompressor raises on damaged input (a truncated file is an EOFError).
_CORRUPT = (lzma.LZMAError, OSError, EOFError, zlib.error)


@dataclass(frozen=True)
class PackSource:
    """A corpus the language pack names: its file name in ``sources/`` and where to fetch it."""

    name: str
    url: str
    #: published checksum (the entry's ``sha256``), verified on download; None when none is published
    checksum: Optional[download.Checksum] = None


@dataclass(frozen=True)
class TextSource:
    """One text file the LM is built from."""

    path: Path
    #: "pack" (named by the language pack), "user" (--text) or "too_long" (an importer's too-long clips)
    origin: str


#: What the import engine writes beside each corpus's report: the transcripts of its too-long clips.
TOO_LONG_PATTERN = "*_too_long.txt"


def pack_sources(pack: LanguagePack) -> List[PackSource]:
    """The LM corpora of the language pack (``corpus_parameters["lm"]["sources"]``)."""
    entries: Sequence[Any] = pack.corpus_parameters.get("lm", {}).get("sources", [])  # type: ignore[assignment]
    return [
        PackSource(str(entry["name"]), str(entry["url"]), ("sha256", str(entry["sha256"])) if entry.get("sha256") else None)
        for entry in entries
    ]


@dataclass(frozen=True)
class ResolvedSources:
    """The text sources of a run, and the pack corpora left out because absent from ``sources/``."""

    sources: List[TextSource]
    missing: List[str]


def resolve_sources(
    sources_dir: Path, pack: LanguagePack, texts: Sequence[Path], download: bool, mirror: Optional[str] = None
) -> ResolvedSources:
    """The text sources to use; with ``download`` a missing pack corpus is fetched first.

    Fetched as corpus archives are (:func:`stt_tasks.download.fetch`: resumable, checksum-verified
    where the pack publishes one, from ``mirror`` or ``$STT_CORPUS_MIRROR`` when set).
    """
    chosen: List[TextSource] = []
    missing: List[str] = []
    for corpus in pack_sources(pack):
        path = sources_dir / corpus.name
        if not path.is_file() and download:
            fetch_source(corpus, sources_dir, mirror)
        if path.is_file():
            chosen.append(TextSource(path, "pack"))
        else:
            missing.append(corpus.name)
    for text in texts:
        if not text.is_file():
            raise BadInputError("{}: no such text file (given with --text). Check the path.".format(text))
        chosen.append(TextSource(text.absolute(), "user"))
    if not chosen:
        raise BadInputError(
            "no LM text: {} not in {}. Place them there, add --download to fetch them, or give text files "
            "with --text FILE.".format(", ".join(missing) or "the language pack names no corpus", sources_dir)
        )
    for name in missing:
        LOG.warning("LM corpus %s is not in %s: building without it (use --download to fetch it)", name, sources_dir)
    return ResolvedSources(chosen, missing)


def too_long_sources(data_dir: Path) -> List[TextSource]:
    """Every ``*_too_long.txt`` under ``data_dir`` (at any depth, as the CSVs are found), sorted."""
    if not data_dir.is_dir():
        return []
    return [TextSource(path, "too_long") for path in sorted(data_dir.rglob(TOO_LONG_PATTERN)) if path.is_file()]


def fetch_source(corpus: PackSource, sources_dir: Path, mirror: Optional[str] = None) -> Path:
    """Download a pack corpus into ``sources_dir`` under its name (the shared downloader)."""
    url = download.source_url(corpus.url, corpus.name, mirror)
    return download.fetch(url, sources_dir / corpus.name, corpus.checksum)


def _open(path: Path, raw: IO[bytes]) -> IO[bytes]:
    opener = _OPENERS.get(path.suffix.lower())
    return opener(raw) if opener else raw


def read_blocks(path: Path, on_progress: Optional[Callable[[int], None]] = None) -> Iterator[bytes]:
    """Blocks of whole lines (bytes, ending with a newline) of a possibly compressed text file.

    ``on_progress`` receives the number of *file* bytes consumed since the last call, so progress
    and ETA are measured against the sizes on disk. A damaged compressed file raises
    :class:`BadInputError` naming it.
    """
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise BadInputError("{}: cannot read ({}). Check the file and its permissions.".format(path, error))
    with raw:
        stream = _open(path, raw)
        position = 0
        carry = b""
        try:
            while True:
                block = stream.read(BLOCK_SIZE)
                if on_progress is not None:
                    now = raw.tell()
                    on_progress(now - position)
                    position = now
                if not block:
                    break
                cut = block.rfind(b"\n")
                if cut < 0:
                    carry += block
                    continue
                yield carry + block[: cut + 1]
                carry = block[cut + 1 :]
        except _CORRUPT as error:
            raise BadInputError(
                "{}: damaged {} data after {:.1f} MB ({}). Replace the file (delete it and re-run with "
                "--download for a pack corpus).".format(
                    path, path.suffix.lstrip(".") or "text", raw.tell() / 1e6, error
                )
            ) from None
        if carry:
            yield carry + b"\n"

