"""What a run of the lm step was asked for (:class:`LmOptions`) and where its outputs go (:class:`LmPaths`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from stt_tasks.layout import DataRoot


@dataclass(frozen=True)
class LmOptions:
    """What the user chose for this run (CLI options and run parameters)."""

    texts: Tuple[Path, ...] = ()
    download: bool = False
    memory: str = "85%"
    top_k: int = 500000
    english_compatible: bool = False
    alpha: float = 0.0
    beta: float = 0.0
    keep_eval_sentences: bool = False
    workers: int = 1
    rebuild_scorer: bool = False
    #: the alphabet the scorer is written for (default: the alphabet step's models/alphabet.txt)
    alphabet: Optional[Path] = None
    #: LM_ADD_EXCLUDED_MAX_SEC: add every extracted/data/**/*_too_long.txt (transcripts of the clips
    #: the importers dropped as too long for training), so that their sentences still teach the LM
    add_too_long: bool = False


@dataclass(frozen=True)
class LmPaths:
    """Where the step's outputs go: ``lm/``, and its LM text in ``extracted/``."""

    root: DataRoot
    top_k: int
    alphabet_override: Optional[Path] = None

    @property
    def lm_text(self) -> Path:
        return self.root.extracted / "sources_lm.txt"

    @property
    def binary(self) -> Path:
        return self.root.lm / "lm.binary"

    @property
    def vocabulary(self) -> Path:
        return self.root.lm / "vocab-{}.txt".format(self.top_k)

    @property
    def scorer(self) -> Path:
        return self.root.scorer

    @property
    def alphabet(self) -> Path:
        return self.alphabet_override or self.root.alphabet

    @property
    def report_json(self) -> Path:
        return self.root.lm / "lm_report.json"

    @property
    def report_text(self) -> Path:
        return self.root.lm / "lm_report.txt"
