"""Shared pytest fixtures: a fresh data root and the French language pack."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

import pytest

from stt_tasks.importers.engine import ImportResult
from stt_tasks.languages import LanguagePack, load_language
from stt_tasks.layout import DataRoot

#: CLI corpus name -> (module, prepare function) of every archive-based importer.
PREPARE = {
    "lingua-libre": ("lingua_libre", "prepare_lingua_libre"),
    "trainingspeech": ("trainingspeech", "prepare_trainingspeech"),
    "african-accented-french": ("african_accented_french", "prepare_african_accented_french"),
    "m-ailabs": ("m_ailabs", "prepare_m_ailabs"),
    "mls": ("mls", "prepare_mls"),
    "ccpmf": ("ccpmf", "prepare_ccpmf"),
}


def prepare_function(corpus: str) -> Callable[..., ImportResult]:
    module, function = PREPARE[corpus]
    return getattr(importlib.import_module("stt_tasks.importers." + module), function)  # type: ignore[no-any-return]


@pytest.fixture
def data_root(tmp_path: Path) -> DataRoot:
    root = DataRoot(tmp_path / "data")
    root.create()
    return root


@pytest.fixture
def pack() -> LanguagePack:
    return load_language("fr")
