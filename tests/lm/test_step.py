"""The lm step end to end with the real KenLM tools, on generated French text."""

from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm.kenlm_tools import KenLMError
from stt_tasks.lm.step import LmOptions, build_lm

from .support import PLANTED, REPOSITORY, require

pytestmark = pytest.mark.usefixtures("kenlm_tools")
MEMORY = "100M"  # lmplz touches all the sorting memory it is given: keep tests light


def run(root: DataRoot, pack: LanguagePack, text: Path, **changes: Any) -> Dict[str, Any]:
    options = dict(texts=(text,), memory=MEMORY, top_k=500, workers=2)
    options.update(changes)
    return build_lm(root, pack, LmOptions(**options))  # type: ignore[arg-type]


def test_builds_the_language_model_and_scorer(data_root: DataRoot, pack: LanguagePack, french_text: Path) -> None:
    result = run(data_root, pack, french_text)
    vocabulary = Path(result["vocabulary"]).read_text(encoding="utf-8").split("\n")
    assert Path(result["vocabulary"]).name == "vocab-500.txt"
    assert len(vocabulary) == len(set(vocabulary)) == 500 == result["vocabulary_size"]

    lm_text = Path(result["lm_text"]).read_text(encoding="utf-8")
    assert lm_text.startswith(lm_text.lower()[:200])
    lines = lm_text.split("\n")
    assert PLANTED not in lines and "il fait beau aujourd'hui" not in lines  # a dev and a test transcript
    assert result["evaluation_sentences_removed"] >= 2
    assert "la grenouille verte saute" in lines  # only whole dev/test sentences go

    scorer = Path(result["scorer"]).read_bytes()
    binary = Path(result["lm_binary"]).read_bytes()
    assert scorer.startswith(binary) and scorer[len(binary) : len(binary) + 4] == b"EIRT"

    report = json.loads(Path(result["report"]).read_text(encoding="utf-8"))
    assert report["language_model"]["evaluation_sentences_removed"] == result["evaluation_sentences_removed"]
    assert "dev/test sentences removed from the LM text" in Path(result["report_text"]).read_text(encoding="utf-8")


def test_binary_loads_in_kenlm(data_root: DataRoot, pack: LanguagePack, french_text: Path) -> None:
    try:
        import kenlm  # type: ignore[import-not-found]
    except ImportError:
        require(False, "the kenlm Python module (pip install -e '.[dev]')")
        raise
    result = run(data_root, pack, french_text)
    model = kenlm.Model(result["lm_binary"])
    assert model.order == 4
    seen = "le chien dort dans le jardin"  # a sample sentence the generated text repeats
    assert model.score(seen) > model.score(" ".join(reversed(seen.split()))) + 3
    assert result["dev_perplexity"] is not None and result["dev_perplexity"] > 1


def test_vocabulary_is_every_word_when_fewer_than_top_k(
    data_root: DataRoot, pack: LanguagePack, french_text: Path
) -> None:
    result = run(data_root, pack, french_text, top_k=1000000)
    report = json.loads(Path(result["report"]).read_text(encoding="utf-8"))
    assert result["vocabulary_size"] == report["language_model"]["distinct_words"] < 1000000


def test_rerun_skips_and_changes_rebuild(data_root: DataRoot, pack: LanguagePack, french_text: Path) -> None:
    first = run(data_root, pack, french_text)
    binary = Path(first["lm_binary"])
    stamp = binary.stat().st_mtime_ns
    report_stamp = Path(first["report"]).stat().st_mtime_ns

    again = run(data_root, pack, french_text)
    assert again["rebuilt"] == {"language_model": False, "scorer": False}
    assert binary.stat().st_mtime_ns == stamp
    assert Path(again["report"]).stat().st_mtime_ns == report_stamp

    tuned = run(data_root, pack, french_text, alpha=0.8, beta=1.5)
    assert tuned["rebuilt"] == {"language_model": False, "scorer": True}
    assert (tuned["alpha"], tuned["beta"]) == (pytest.approx(0.8), pytest.approx(1.5))

    with open(french_text, "a", encoding="utf-8") as handle:
        handle.write("Une phrase toute nouvelle.\n")
    changed = run(data_root, pack, french_text, alpha=0.8, beta=1.5)
    assert changed["rebuilt"] == {"language_model": True, "scorer": True}


def test_leftovers_of_a_killed_run_are_removed(
    data_root: DataRoot, pack: LanguagePack, french_text: Path
) -> None:
    stale_work = data_root.lm / ".work.tmp-999999"
    stale_work.mkdir(parents=True)
    (stale_work / "lm.arpa").write_text("half an ARPA file")
    stale_text = data_root.extracted / ".sources_lm.txt.tmp-999999"
    stale_text.write_text("half the LM text")
    run(data_root, pack, french_text)
    assert not stale_work.exists() and not stale_text.exists()


def test_rebuild_scorer_needs_only_the_language_model(
    data_root: DataRoot, pack: LanguagePack, french_text: Path
) -> None:
    with pytest.raises(BadInputError, match="no finished language model"):
        run(data_root, pack, french_text, rebuild_scorer=True)
    run(data_root, pack, french_text)
    french_text.unlink()  # the text sources may be gone after the build
    rebuilt = run(data_root, pack, french_text, rebuild_scorer=True, alpha=1.25, beta=0.5)
    assert rebuilt["rebuilt"] == {"language_model": False, "scorer": True}
    assert rebuilt["alpha"] == 1.25 and rebuilt["beta"] == 0.5


def test_keep_eval_sentences(data_root: DataRoot, pack: LanguagePack, french_text: Path) -> None:
    result = run(data_root, pack, french_text, keep_eval_sentences=True)
    assert result["evaluation_sentences_removed"] == 0
    assert PLANTED in Path(result["lm_text"]).read_text(encoding="utf-8").split("\n")


def test_lmplz_failure_shows_its_log(data_root: DataRoot, pack: LanguagePack, french_text: Path) -> None:
    with pytest.raises(KenLMError, match=r"(?s)lmplz exited with status \d+:\n.*Failed to parse lots.*lower --memory"):
        run(data_root, pack, french_text, memory="lots")
    assert not (data_root.lm / "lm.binary").exists()
    assert not [p for p in data_root.lm.iterdir() if p.name.startswith(".work")]


def test_alphabet_is_required(data_root: DataRoot, pack: LanguagePack, french_text: Path) -> None:
    (data_root.models / "alphabet.txt").unlink()
    with pytest.raises(BadInputError, match="run the alphabet step"):
        run(data_root, pack, french_text)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stt_tasks", "lm", "--memory", MEMORY, "--lm-top-k", "300"] + list(args),
        cwd=str(REPOSITORY),
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )


def test_cli_prints_json_last_and_reads_xz(data_root: DataRoot, french_text: Path) -> None:
    packed = french_text.with_suffix(".txt.xz")
    packed.write_bytes(lzma.compress(french_text.read_bytes()))
    done = cli("--data-root", str(data_root.root), "--text", str(packed), "--lm-alpha", "0.5")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {Path(result[k]).name for k in ("lm_binary", "vocabulary", "scorer", "report")} == {
        "lm.binary",
        "vocab-300.txt",
        "kenlm.scorer",
        "lm_report.json",
    }
    assert result["vocabulary_size"] == 300 and result["alpha"] == 0.5
    assert "LM text:" in done.stderr and "MB/s" in done.stderr


def test_cli_corrupt_xz_exits_2_naming_the_file(data_root: DataRoot, french_text: Path) -> None:
    data = bytearray(lzma.compress(french_text.read_bytes()))
    data[len(data) // 2] ^= 0xFF
    corrupt = data_root.sources / "wiki.txt.xz"
    corrupt.write_bytes(bytes(data))
    done = cli("--data-root", str(data_root.root))
    assert done.returncode == 2
    assert "{}: damaged xz data".format(corrupt) in done.stderr
    assert not (data_root.lm / "lm.binary").exists()
    assert not [p for p in data_root.lm.iterdir() if p.name.startswith(".work")]


#: A sentence an importer dropped as too long for training: its words are in no other LM text.
TOO_LONG = "le zorglubien mange des quetsches au bord du fleuve"


def test_too_long_transcripts_join_the_lm_text_with_the_parameter(
    data_root: DataRoot, pack: LanguagePack, french_text: Path
) -> None:
    too_long = data_root.corpus_dir("cv-fr") / "cv-fr_too_long.txt"
    # As the import engine writes it; the test transcript must still be removed from the LM text.
    too_long.write_text("il fait beau aujourd'hui\n" + TOO_LONG + "\n", encoding="utf-8")

    # The run parameter as the pipeline passes it, on the command line.
    done = cli("--data-root", str(data_root.root), "--text", str(french_text), "--lm-top-k", "1000000",
               "--lm-add-excluded-max-sec", "1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    lines = Path(result["lm_text"]).read_text(encoding="utf-8").split("\n")
    assert lines[-2] == TOO_LONG and "il fait beau aujourd'hui" not in lines  # after the other sources
    assert "zorglubien" in Path(result["vocabulary"]).read_text(encoding="utf-8").split("\n")
    report = json.loads(Path(result["report"]).read_text(encoding="utf-8"))["language_model"]
    assert report["too_long"] == {
        "files": [str(too_long)],
        "lines": 2,
        "kept_lines": 1,
        "rejected_lines": 0,
        "evaluation_sentences_removed": 1,
    }
    assert report["parameters"]["lm_add_excluded_max_sec"] is True
    assert ("too long for training (lm_add_excluded_max_sec): 2 lines read from 1 files, 1 kept"
            in Path(result["report_text"]).read_text(encoding="utf-8"))

    on = dict(top_k=1000000, add_too_long=True)
    assert run(data_root, pack, french_text, **on)["rebuilt"]["language_model"] is False
    # A new too-long file (another corpus imported) rebuilds the language model.
    other = data_root.corpus_dir("mls") / "mls_too_long.txt"
    other.parent.mkdir()
    other.write_text("une autre phrase trop longue\n", encoding="utf-8")
    assert run(data_root, pack, french_text, **on)["rebuilt"]["language_model"] is True

    # Off (the default): the transcripts are left out, and switching rebuilds.
    off = run(data_root, pack, french_text, top_k=1000000)
    assert off["rebuilt"]["language_model"] is True
    assert TOO_LONG not in Path(off["lm_text"]).read_text(encoding="utf-8").split("\n")
    assert "zorglubien" not in Path(off["vocabulary"]).read_text(encoding="utf-8").split("\n")
    report = json.loads(Path(off["report"]).read_text(encoding="utf-8"))["language_model"]
    assert report["too_long"] is None
    assert "too long for training (lm_add_excluded_max_sec): not added" in Path(off["report_text"]).read_text(
        encoding="utf-8")
