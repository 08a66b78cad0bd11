"""Fixtures of the LM tests: the KenLM tools, a data root with dev/test transcripts, French text.

KenLM's tools come from ``$KENLM_BIN``, else ``.tools/kenlm/bin`` (built by scripts/build-kenlm.sh),
else ``PATH``. Without them the tests that need them fail under CI (``CI`` set) and skip elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import pytest

from stt_tasks.languages import LanguagePack, load_language
from stt_tasks.layout import DataRoot

from .support import LOCAL_KENLM, PLANTED, require, write_csv

if "KENLM_BIN" not in os.environ and (LOCAL_KENLM / "lmplz").is_file():
    os.environ["KENLM_BIN"] = str(LOCAL_KENLM)


@pytest.fixture(scope="session")
def kenlm_tools() -> Dict[str, Path]:
    from stt_tasks.lm.kenlm_tools import KenLMError, find_tools

    try:
        return find_tools()
    except KenLMError:
        require(False, "KenLM tools (scripts/build-kenlm.sh, KENLM_BIN)")
        raise


@pytest.fixture(scope="session")
def pack() -> LanguagePack:
    return load_language("fr")


@pytest.fixture
def data_root(tmp_path: Path, pack: LanguagePack) -> DataRoot:
    """A data root as the importers and the alphabet step leave it, with a planted dev sentence."""
    root = DataRoot(tmp_path / "data")
    root.create()
    sentences = [pack.validate_label(s) for s in pack.sample_sentences()]
    corpus = root.corpus_dir("cv-fr")
    write_csv(corpus / "cv-fr_train.csv", [s for s in sentences if s])
    write_csv(corpus / "cv-fr_dev.csv", [PLANTED, "le chat dort sur le canapé"])
    write_csv(corpus / "cv-fr_test.csv", ["il fait beau aujourd'hui"])
    alphabet = sorted(set(" '" + "abcdefghijklmnopqrstuvwxyz" + "àâçèéêëîïôùûüÿœ"))
    (root.models / "alphabet.txt").write_text("".join(c + "\n" for c in alphabet), encoding="utf-8")
    return root


@pytest.fixture
def french_text(tmp_path: Path, pack: LanguagePack) -> Path:
    """About 300 kB of generated French text with the planted dev sentence in it."""
    from stt_tasks.lm.synthetic import write_french_text

    path = tmp_path / "texts" / "french.txt"
    path.parent.mkdir()
    write_french_text(path, 300000, pack, seed=1, vocabulary=3000)
    with open(path, "a", encoding="utf-8") as handle:
        # The planted dev and test sentences, and a shorter one that must stay (only whole sentences go).
        handle.write("La grenouille verte saute dans la mare.\n")
        handle.write("Il fait beau aujourd'hui !\n")
        handle.write("La grenouille verte saute.\n")
    return path
