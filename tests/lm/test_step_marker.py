"""The lm step's markers hold everything that decides its outputs: a change rebuilds, nothing else does.

With the real KenLM tools on generated French text, as test_step.py.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from stt_tasks.fsio import sha256_file
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm import kenlm_tools, normalise, scorer
from stt_tasks.lm.step import LmOptions, build_lm

pytestmark = pytest.mark.usefixtures("kenlm_tools")


def run(root: DataRoot, pack: LanguagePack, text: Path, **changes: Any) -> Dict[str, Any]:
    options = dict(texts=(text,), memory="100M", top_k=500, workers=2)
    options.update(changes)
    return build_lm(root, pack, LmOptions(**options))  # type: ignore[arg-type]


def artifacts(root: DataRoot) -> Dict[str, Tuple[str, int]]:
    """sha256 and mtime of every file the lm step owns: lm/ (markers included) and its LM text."""
    files = [p for p in root.lm.rglob("*") if p.is_file()] + [root.extracted / "sources_lm.txt"]
    return {str(p): (sha256_file(p), p.stat().st_mtime_ns) for p in sorted(files)}


def test_an_unchanged_rerun_skips_and_changes_no_byte(
    data_root: DataRoot, pack: LanguagePack, french_text: Path
) -> None:
    run(data_root, pack, french_text)
    before = artifacts(data_root)
    assert {Path(p).name for p in before} >= {"lm.binary", "kenlm.scorer", "vocab-500.txt", "lm_report.json",
                                              "lm_report.txt", ".lm.completed.json", ".scorer.completed.json"}
    again = run(data_root, pack, french_text)
    assert again["rebuilt"] == {"language_model": False, "scorer": False}
    assert artifacts(data_root) == before


def test_what_does_not_decide_the_outputs_rebuilds_nothing(
    data_root: DataRoot, pack: LanguagePack, french_text: Path, kenlm_tools: Dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(data_root, pack, french_text)
    before = artifacts(data_root)
    # Sorting memory, processes and the tools' folder change how the work runs, not what it makes.
    copies = tmp_path / "kenlm-copy"
    copies.mkdir()
    for tool in kenlm_tools.values():
        shutil.copy2(str(tool), str(copies / tool.name))
    monkeypatch.setenv("KENLM_BIN", str(copies))
    again = run(data_root, pack, french_text, memory="200M", workers=1)
    assert again["rebuilt"] == {"language_model": False, "scorer": False}
    assert artifacts(data_root) == before


@pytest.mark.parametrize(
    "module, name, value",
    [
        (kenlm_tools, "ORDER", 3),
        (kenlm_tools, "PRUNE", (0, 1, 1)),
        (kenlm_tools, "BINARY_ARGS", ("-q", "8", "-v", "trie")),
        (kenlm_tools, "LMPLZ_ARGS", ("--discount_fallback", "--skip_symbols")),
        (normalise, "RULES_ENGINE_VERSION", normalise.RULES_ENGINE_VERSION + 1),
    ],
)
def test_a_changed_recipe_constant_rebuilds_the_language_model(
    data_root: DataRoot, pack: LanguagePack, french_text: Path, monkeypatch: pytest.MonkeyPatch,
    module: Any, name: str, value: Any,
) -> None:
    first = run(data_root, pack, french_text)
    binary = sha256_file(Path(first["lm_binary"]))
    monkeypatch.setattr(module, name, value)
    changed = run(data_root, pack, french_text)
    assert changed["rebuilt"]["language_model"] is True
    marker = json.loads((data_root.lm / ".lm.completed.json").read_text(encoding="utf-8"))
    recorded = json.dumps(marker["inputs"])
    assert json.dumps(list(value) if isinstance(value, tuple) else value) in recorded
    if name in ("ORDER", "PRUNE"):
        assert sha256_file(Path(changed["lm_binary"])) != binary and changed["rebuilt"]["scorer"] is True
        report = json.loads(Path(changed["report"]).read_text(encoding="utf-8"))["language_model"]["parameters"]
        assert report[name.lower()] == (list(value) if isinstance(value, tuple) else value)
    # The new recipe is now the recorded one: the next run skips.
    assert run(data_root, pack, french_text)["rebuilt"] == {"language_model": False, "scorer": False}


def test_the_order_is_what_lmplz_ran_with(data_root: DataRoot, pack: LanguagePack, french_text: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    kenlm = pytest.importorskip("kenlm")
    monkeypatch.setattr(kenlm_tools, "ORDER", 3)
    assert kenlm.Model(run(data_root, pack, french_text)["lm_binary"]).order == 3


def test_other_kenlm_tools_rebuild_the_language_model(
    data_root: DataRoot, pack: LanguagePack, french_text: Path, kenlm_tools: Dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(data_root, pack, french_text)
    other = tmp_path / "other-kenlm"
    other.mkdir()
    for tool in kenlm_tools.values():
        shutil.copy2(str(tool), str(other / tool.name))
    with open(other / "build_binary", "ab") as handle:
        handle.write(b"\0")  # another build of the tool: other bytes, still a working executable
    assert os.access(str(other / "build_binary"), os.X_OK)
    monkeypatch.setenv("KENLM_BIN", str(other))
    assert run(data_root, pack, french_text)["rebuilt"]["language_model"] is True


def test_a_new_scorer_format_repackages_only_the_scorer(
    data_root: DataRoot, pack: LanguagePack, french_text: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run(data_root, pack, french_text)
    binary = Path(first["lm_binary"])
    binary_hash = sha256_file(binary)
    monkeypatch.setattr(scorer, "SCORER_VERSION", scorer.SCORER_VERSION + 1)
    changed = run(data_root, pack, french_text)
    assert changed["rebuilt"] == {"language_model": False, "scorer": True}
    assert sha256_file(binary) == binary_hash
    package = Path(changed["scorer"]).read_bytes()
    size = binary.stat().st_size
    assert struct.unpack("<ii", package[size : size + 8]) == (scorer.SCORER_MAGIC, scorer.SCORER_VERSION)
    assert run(data_root, pack, french_text)["rebuilt"] == {"language_model": False, "scorer": False}
