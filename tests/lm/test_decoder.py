"""Coqui's own decoder (coqui-stt-ctcdecoder 1.4.0, Python 3.9) loads and uses our scorer packages."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm.step import LmOptions, build_lm

from .support import FIXTURES, REPOSITORY, python39, require

VENV = REPOSITORY / ".tools" / "ctcdecoder-venv"
SCRIPT = Path(__file__).with_name("decode_with_scorer.py")


@pytest.fixture(scope="session")
def decoder_python() -> Path:
    require(bool(python39()), "Python 3.9 (for coqui-stt-ctcdecoder 1.4.0)")
    done = subprocess.run(
        ["bash", str(REPOSITORY / "scripts" / "ctcdecoder-venv.sh"), str(VENV)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
    )
    require(done.returncode == 0, "the decoder venv (scripts/ctcdecoder-venv.sh: {})".format(done.stdout[-500:]))
    return VENV / "bin" / "python"


def decode(python: Path, scorer: Path, alphabet: Path, spoken: str, heard: str) -> dict:
    done = subprocess.run(
        [str(python), str(SCRIPT), str(scorer), str(alphabet), spoken, heard],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_decoder_uses_the_dictionary_of_our_package(
    kenlm_tools: dict, decoder_python: Path, data_root: DataRoot, pack: LanguagePack, french_text: Path
) -> None:
    # English-compatible run: the stock English alphabet, as Coqui's decoder ships it.
    shutil.copy(str(FIXTURES / "alphabet.txt"), str(data_root.models / "alphabet.txt"))
    options = LmOptions(texts=(french_text,), memory="100M", top_k=2000, english_compatible=True, alpha=0.5, beta=1.0)
    result = build_lm(data_root, pack, options)
    alphabet = FIXTURES / "alphabet.txt"

    heard = decode(decoder_python, Path(result["scorer"]), alphabet, "le chien dort", "le chiem dort")
    assert heard["defaults"] == [0.5, 1.0] and heard["utf8"] is False
    assert heard["without"] == "le chiem dort"  # the acoustic scores alone
    assert heard["with"] == "le chien dort"  # "chiem" is not a word: the dictionary corrects it


@pytest.mark.slow
def test_decoder_loads_the_rebuilt_upstream_package(decoder_python: Path, tmp_path: Path) -> None:
    from stt_tasks.lm.scorer import write_scorer

    lm = tmp_path / "lm.binary"
    lm.write_bytes((FIXTURES / "pruned_lm.scorer").read_bytes()[:266112])
    package = tmp_path / "rebuilt.scorer"
    write_scorer(lm, FIXTURES / "vocab.pruned.txt", FIXTURES / "alphabet.txt", package, 0.75, 1.85)
    heard = decode(decoder_python, package, FIXTURES / "alphabet.txt", "dark suit", "darc suit")
    assert heard["without"] == "darc suit" and heard["with"] == "dark suit"
