"""The data root's directory tree, the same as the original French image's ``/mnt``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from stt_tasks.errors import BadInputError

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

    @property
    def alphabet(self) -> Path:
        """The alphabet step's alphabet: the default of every later step."""
        return self.models / "alphabet.txt"

    @property
    def scorer(self) -> Path:
        """The lm step's scorer package: the default scorer, when present (decoding may go without)."""
        return self.lm / "kenlm.scorer"

    @property
    def model(self) -> Path:
        """The export step's TFLite model."""
        return self.models / "output_graph.tflite"

    @property
    def tuned_scorer(self) -> Path:
        """The optimize-lm step's scorer package: the lm step's LM with the tuned alpha/beta as defaults."""
        return self.lm / "tuned" / "kenlm.scorer"

    @property
    def tuning(self) -> Path:
        """The optimize-lm step's result: the best alpha/beta, their dev WER and every trial."""
        return self.lm / "opt_lm.json"

    @property
    def training(self) -> Path:
        """The train step's result: epochs, best checkpoint, the parameters the model was trained with."""
        return self.checkpoints / "training.json"

    @property
    def test_summary(self) -> Path:
        """The test step's WER/CER per CSV and overall, decoder settings and samples."""
        return self.models / "test_summary.json"

    @property
    def test_output(self) -> Path:
        """The test step's per-clip transcripts (coqui's test output file)."""
        return self.models / "test_output.json"

    def given_input(self, value: Optional[str], option: str, default: object) -> Optional[Path]:
        """The upstream artifact given as ``option``; None when given empty (the DAG passes it empty when no
        upstream step produced it: the step goes without). ``default`` is what leaving the option out gives.

        A given file must exist, under the data root: the only folder a step's container sees.
        """
        if not value:
            return None
        path = Path(os.path.normpath(str(Path(value).absolute())))
        try:
            path.relative_to(os.path.normpath(str(self.root)))
        except ValueError:
            raise BadInputError("{} {}: outside the data root {}. Steps read their inputs from the data root: pass "
                                "a path under it, or leave {} out for {}.".format(option, value, self.root, option,
                                                                                   default)) from None
        if not path.is_file():
            raise BadInputError("{} {}: no such file. Pass the file the upstream step wrote (its JSON result names "
                                "it), or leave {} out for {}.".format(option, path, option, default))
        return path

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
