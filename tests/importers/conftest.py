"""Shared pytest fixtures: a fresh data root and the French language pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from stt_tasks.languages import LanguagePack, load_language
from stt_tasks.layout import DataRoot


@pytest.fixture
def data_root(tmp_path: Path) -> DataRoot:
    root = DataRoot(tmp_path / "data")
    root.create()
    return root


@pytest.fixture
def pack() -> LanguagePack:
    return load_language("fr")
