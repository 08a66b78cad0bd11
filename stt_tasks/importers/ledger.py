"""Which source each finished WAV was made from, so that only an up-to-date WAV is reused.

A WAV already in the corpus folder is reused by a re-run (that is what makes a killed import resume
quickly), but only if it was made from the same source file (name, size, modification time), the
same segment and the same output rate: a re-published archive with a changed clip, or a new CCPMF
segment length, must not keep the old audio. The ledger is a JSON-lines file beside the corpus
folder (so the folder's bytes stay those of an uninterrupted run): one ``[clip_id, fingerprint]``
line appended as each WAV is written, flushed at once so a killed run keeps what it finished; a line
cut short by the kill is ignored (that clip is converted again). A finished import rewrites it compactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Dict, Mapping, Optional

from stt_tasks.fsio import remove_stale_siblings, write_text_atomic


def clip_fingerprint(source: Path, start: Optional[float], end: Optional[float], rate: int) -> str:
    """What a WAV depends on: the source's name, size and mtime, the segment bounds, the output rate.

    Size and mtime rather than a hash: re-hashing an hour-long recording for each of its segments
    would cost more than cutting them. A re-extracted archive gets new mtimes: its clips are redone.
    """
    status = source.stat()
    bounds = "-" if start is None or end is None else "{!r}-{!r}".format(start, end)
    return "{}|{}|{}|{}|{}".format(source.name, status.st_size, status.st_mtime_ns, bounds, rate)


class ClipLedger:
    """The fingerprints of the WAVs under ``<corpus folder>``, kept in ``.<corpus folder>.clips.jsonl`` beside it."""

    def __init__(self, corpus_dir: Path) -> None:
        self.path = corpus_dir.parent / ".{}.clips.jsonl".format(corpus_dir.name)
        self.recorded: Dict[str, str] = {}
        self._ends_with_newline = True
        self._handle: Optional[IO[str]] = None
        remove_stale_siblings(self.path)  # the temporary of a rewrite a kill interrupted
        self._read()

    def _read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        self._ends_with_newline = not text or text.endswith("\n")
        for line in text.splitlines():
            try:
                clip_id, fingerprint = json.loads(line)
            except ValueError:  # cut short by a kill, or garbage: that clip is simply converted again
                continue
            if isinstance(clip_id, str) and isinstance(fingerprint, str):
                self.recorded[clip_id] = fingerprint

    def is_current(self, clip_id: str, fingerprint: str) -> bool:
        """Whether the WAV of ``clip_id``, if present, was made from exactly this source and segment."""
        return self.recorded.get(clip_id) == fingerprint

    def record(self, clip_id: str, fingerprint: str) -> None:
        """Note a WAV just written (appended and flushed at once: a kill right after keeps it)."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
            if not self._ends_with_newline:
                self._handle.write("\n")
        self._handle.write(json.dumps([clip_id, fingerprint], ensure_ascii=False) + "\n")
        self._handle.flush()
        self.recorded[clip_id] = fingerprint

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def rewrite(self, current: Mapping[str, str]) -> None:
        """Replace the ledger by ``current`` (the WAVs a finished import uses), one line per clip, sorted."""
        self.close()
        lines = [json.dumps([clip_id, current[clip_id]], ensure_ascii=False) + "\n" for clip_id in sorted(current)]
        write_text_atomic(self.path, "".join(lines))
        self.recorded = dict(current)
        self._ends_with_newline = True
