"""LM text sources: which files, where they come from, and reading them as a stream of lines.

The language pack names its corpora (file name in ``sources/`` and the URL of the original
release); the user may add any text files; with ``lm_add_excluded_max_sec`` the transcripts of the
clips the importers dropped as too long for training are added too. Sources may be ``.xz``,
``.gz``, ``.bz2`` or plain text and are read in fixed-size blocks, so memory does not grow with
their size.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence

from stt_tasks.errors import BadInputError, StepError
from stt_tasks.fsio import atomic_output
from stt_tasks.languages import LanguagePack
from stt_tasks.progress import LOG, Progress

BLOCK_SIZE = 4 << 20
DOWNLOAD_TIMEOUT_S = 60

_OPENERS: Dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".xz": lambda raw: lzma.open(raw, "rb"),  # type: ignore[dict-item]
    ".gz": lambda raw: gzip.open(raw, "rb"),  # type: ignore[dict-item]
    ".bz2": lambda raw: bz2.open(raw, "rb"),  # type: ignore[dict-item]
}
# What each decompressor raises on damaged input (a truncated file is an EOFError).
_CORRUPT = (lzma.LZMAError, OSError, EOFError, zlib.error)


class DownloadError(StepError):
    """A source could not be downloaded; worth a retry, or the file can be placed by hand."""


@dataclass(frozen=True)
class PackSource:
    """A corpus the language pack names: its file name in ``sources/`` and where to fetch it."""

    name: str
    url: str


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
    return [PackSource(name=str(entry["name"]), url=str(entry["url"])) for entry in entries]


@dataclass(frozen=True)
class ResolvedSources:
    """The text sources of a run, and the pack corpora left out because absent from ``sources/``."""

    sources: List[TextSource]
    missing: List[str]


def resolve_sources(sources_dir: Path, pack: LanguagePack, texts: Sequence[Path], download: bool) -> ResolvedSources:
    """The text sources to use; with ``download`` a missing pack corpus is fetched first."""
    chosen: List[TextSource] = []
    missing: List[str] = []
    for corpus in pack_sources(pack):
        path = sources_dir / corpus.name
        if not path.is_file() and download:
            download_file(corpus.url, path)
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


def download_file(url: str, target: Path) -> None:
    """Fetch ``url`` into ``target`` atomically (a failed download leaves nothing behind)."""
    LOG.info("downloading %s to %s", url, target)
    try:
        with contextlib.closing(urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)) as response:
            length = response.headers.get("Content-Length")
            progress = Progress("download " + target.name, int(length) if length else None, "MB", scale=10**6)
            with atomic_output(target, "wb") as handle:
                for block in iter(lambda: response.read(1 << 20), b""):
                    handle.write(block)
                    progress.advance(len(block))
                if length and progress.done != int(length):
                    raise OSError("connection closed after {} of {} bytes".format(progress.done, length))
            progress.finish()
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(
            "cannot download {} to {}: {}. Retry, or download it by other means and place it at {}.".format(
                url, target, error, target
            )
        ) from None


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

