"""What a corpus module hands to the import engine."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

SPLITS = ("train", "dev", "test")
#: Who chose a clip's split (the manifest's ``assigned`` column, read by the leakage step): the
#: corpus's own partition, our re-split of it, or the engine's speaker hash (no split given).
OFFICIAL = "official"
RESPLIT = "resplit"
SPEAKER_HASH = "speaker_hash"


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus's import rules (datasets.md section 3): name and duration limits."""

    name: str
    #: too-short rule: a clip needs at least this many milliseconds per transcript character; the engine
    #: also drops, as too short, every clip CTC cannot align in coqui's features (``stt_tasks.ctc``)
    ms_per_char: int
    max_seconds: float
    min_seconds: float = 0.0
    #: misalignment rule (CCPMF): a clip with more audio than this per character is dropped; 0 = off
    max_ms_per_char: int = 0


@dataclass(frozen=True)
class ClipRecord:
    """One clip as the corpus describes it.

    ``clip_id`` is the output WAV's path relative to the corpus folder, without extension;
    ``origin`` says where the record came from ("train.tsv line 12") for messages and reports;
    ``split`` is None when the corpus has no official split (the engine then assigns one);
    ``split_by`` says who chose a given ``split``: :data:`OFFICIAL`, or :data:`RESPLIT` when we did
    (then leakage between splits is our fault, and the engine keeps sentences disjoint as for its own);
    ``start``/``end`` (seconds) select a segment of a longer recording (CCPMF), None = whole file.
    """

    audio: Path
    transcript: str
    speaker: str
    clip_id: str
    origin: str
    split: Optional[str] = None
    start: Optional[float] = None
    end: Optional[float] = None
    split_by: str = OFFICIAL


@dataclass
class SourceIssues:
    """Problems met while reading a corpus's own files (malformed rows, bad encodings)."""

    counts: Counter = field(default_factory=Counter)
    examples: Dict[str, List[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str, keep: int = 20) -> None:
        self.counts[reason] += 1
        bucket = self.examples.setdefault(reason, [])
        if len(bucket) < keep:
            bucket.append(where)
