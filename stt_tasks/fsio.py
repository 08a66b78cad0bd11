"""Atomic file outputs and completion markers.

Every output appears under its final name only when complete (written to a temporary name in the
same directory, then renamed), so a crash never leaves a half-written file that a re-run would
mistake for a finished one. A completion marker records what a step consumed and produced, so a
re-run can tell "done" from "stale".
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

from stt_tasks.progress import LOG

MARKER_NAME = ".completed.json"


def temporary_sibling(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this process."""
    return path.with_name(".{}.tmp-{}".format(path.name, os.getpid()))


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write (for libraries that want a file name: tarfile, wave,
    zipfile); renamed into place when the block succeeds, deleted when it fails. The folder must exist
    (no mkdir: the importers write one WAV per clip through this)."""
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "w", **open_kwargs: Any) -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it into place on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    with atomic_output(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def json_text(value: Any) -> str:
    """``value`` as indented, key-sorted JSON, so equal values give equal bytes."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` as indented, key-sorted JSON, so equal values give equal bytes."""
    write_text_atomic(path, json_text(value))


def write_text_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds it; return whether it was written.

    Compared as bytes: text mode would read CRLF line ends (CSV rows) as LF and always rewrite them."""
    try:
        if path.read_bytes() == text.encode("utf-8"):
            return False
    except FileNotFoundError:
        pass
    write_text_atomic(path, text)
    return True


def json_digest(value: Any) -> str:
    """Hex SHA-256 of ``value`` as key-sorted JSON: a stable name for the inputs some work depends on
    (Python's ``hash`` of a str changes between runs)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


def remove_path(path: Path) -> None:
    """Delete a file, a link or a whole folder (not what a link points to)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(str(path), ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_siblings(path: Path) -> None:
    """Delete temporary siblings of ``path`` that a killed run left behind."""
    if not path.parent.is_dir():
        return
    for stale in path.parent.glob(".{}.tmp-*".format(glob.escape(path.name))):
        LOG.info("removing %s, left by an interrupted run", stale)
        remove_path(stale)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` when the block succeeds.

    Leftovers of an earlier, killed attempt are removed first: one run per data root at a time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    tmp = temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_fingerprint(path: Path, with_hash: bool = True) -> Dict[str, Any]:
    """Size (and hash) of a file: what a marker records to detect a changed input or output."""
    record: Dict[str, Any] = {"path": str(path), "size": path.stat().st_size}
    if with_hash:
        record["sha256"] = sha256_file(path)
    return record


class CompletionMarker:
    """A JSON file recording a finished step's inputs and outputs.

    ``is_current(inputs)`` is true only when the recorded inputs equal the given ones and every
    recorded output still exists with its recorded size: anything else means the work is stale.
    """

    def __init__(self, directory: Path, name: str = MARKER_NAME) -> None:
        self.path = directory / name

    def read(self) -> Optional[Dict[str, Any]]:
        """The recorded marker, or None when absent or unreadable (then the work is redone)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def is_current(self, inputs: Mapping[str, Any]) -> bool:
        recorded = self.read()
        if recorded is None or recorded.get("inputs") != json.loads(json.dumps(inputs)):
            return False
        for output in recorded.get("outputs", []):
            path = Path(output["path"])
            if not path.is_file() or path.stat().st_size != output["size"]:
                return False
        return True

    def outputs(self) -> Dict[str, Any]:
        """The ``result`` recorded with the marker (what the step returned)."""
        recorded = self.read() or {}
        return recorded.get("result", {})

    def write(self, inputs: Mapping[str, Any], outputs: List[Path], result: Mapping[str, Any]) -> None:
        """Record completion; called after every output is in place."""
        write_json_atomic(
            self.path,
            {
                "inputs": inputs,
                "outputs": [file_fingerprint(p, with_hash=False) for p in outputs],
                "result": result,
            },
        )

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
