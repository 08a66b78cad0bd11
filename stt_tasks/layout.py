"""The data root's directory tree, the same as the original French image's ``/mnt``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

DEFAULT_DATA_ROOT = "/mnt"


@dataclass(frozen=True)
class DataRoot:
    """Named locations under the data root; every step writes only below ``root``."""

    root: Path

    @classmethod
    def from_env(cls, value: Optional[str] = None) -> "DataRoot":
        """The data root from an explicit value, else ``$STT_DATA_ROOT``, else ``/mnt``."""
        return cls(Path(value or os.environ.get("STT_DATA_ROOT") or DEFAULT_DATA_ROOT).absolute())

    @property
    def sources(self) -> Path:
        """What the user places or downloads: corpus archives, LM text."""
        return self.root / "sources"

    @property
    def extracted(self) -> Path:
        return self.root / "extracted"

    @property
    def data(self) -> Path:
        """Importer outputs; training reads every ``*train.csv``/``*dev.csv``/``*test.csv`` here."""
        return self.root / "extracted" / "data"

    @property
    def releases(self) -> Path:
        """Extracted source archives, kept outside ``data/`` so that no stray CSV is picked up."""
        return self.root / "extracted" / "releases"

    @property
    def lm(self) -> Path:
        return self.root / "lm"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def corpus_dir(self, corpus: str) -> Path:
        """Where one corpus's WAVs, CSVs and report go."""
        return self.data / corpus

    def tree(self) -> Dict[str, Path]:
        """Every directory the pipeline expects, by name."""
        return {
            "sources": self.sources,
            "extracted": self.extracted,
            "data": self.data,
            "lm": self.lm,
            "models": self.models,
            "checkpoints": self.checkpoints,
            "tmp": self.tmp,
            "reports": self.reports,
        }

    def create(self) -> None:
        """Create the whole tree (idempotent)."""
        for path in self.tree().values():
            path.mkdir(parents=True, exist_ok=True)
