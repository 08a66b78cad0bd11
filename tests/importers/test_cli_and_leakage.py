"""The import step end to end: every importer through the CLI, the leakage report, the alphabet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from stt_tasks.cli import main
from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_NOTHING_TO_DO, EXIT_OK
from stt_tasks.importers.registry import corpora
from stt_tasks.languages import load_language
from stt_tasks.layout import DataRoot
from stt_tasks.sample_corpus import build_sample_corpus
from tests.importers import fixtures


def step(capsys: pytest.CaptureFixture, argv: List[str], expected: int = EXIT_OK) -> Dict[str, Any]:
    code = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    assert code == expected
    return json.loads(out[-1]) if code == EXIT_OK else {}


def test_list_shows_every_corpus_and_whether_it_is_present(data_root: DataRoot, capsys: pytest.CaptureFixture) -> None:
    fixtures.mls(data_root.sources)
    listed = step(capsys, ["import", "--list", "--data-root", str(data_root.root)])["corpora"]
    assert sorted(row["corpus"] for row in listed) == sorted(corpora())
    present = {row["corpus"]: row["present"] for row in listed}
    assert present["mls"] and not present["lingua-libre"]
    assert all(row["url"] for row in listed)


def test_usage_and_absent_sources(data_root: DataRoot, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["import", "--data-root", str(data_root.root)])
    assert usage.value.code == EXIT_BAD_INPUT
    assert "name a corpus" in capsys.readouterr().err
    step(capsys, ["import", "ccpmf", "--data-root", str(data_root.root)], EXIT_NOTHING_TO_DO)


def test_all_seven_importers_then_leakage_then_alphabet(data_root: DataRoot, capsys: pytest.CaptureFixture) -> None:
    build_sample_corpus(data_root.sources, load_language("fr"), bad_clips=False)
    list(fixtures.all_fixtures(data_root.sources))
    root = ["--data-root", str(data_root.root), "--workers", "2"]
    csvs: List[Path] = []
    for corpus in sorted(corpora()):
        result = step(capsys, ["import", corpus] + root)
        assert Path(result["report"]).is_file()
        csvs += [Path(path) for path in result["csv"].values()]
        assert all(path.is_file() for path in csvs)
    assert {p.parent.name for p in csvs} == {
        "cv-fr", "lingualibre", "trainingspeech", "African_Accented_French", "M-AILABS", "MLS", "ccpmf"
    }

    leak = step(capsys, ["leakage", "--data-root", str(data_root.root)])
    report = json.loads(Path(leak["leakage_report"]).read_text(encoding="utf-8"))
    assert report["totals"]["created"]["pairs"] == 0
    inherited = {f["train"] for f in report["findings"] if f["kind"] == "inherited"}
    # The sample Common Voice reuses sentences across its splits; OpenSLR 57's prompts recur too.
    assert inherited == {"cv-fr/train", "African_Accented_French/train"}
    assert "inherited" in Path(leak["leakage_text"]).read_text(encoding="utf-8")

    alphabet = step(capsys, ["alphabet", "--data-root", str(data_root.root)])
    assert sorted(alphabet["csv_files"]) == sorted(str(p) for p in csvs)
    assert set("éèàç' ") <= set(alphabet["characters"])


def test_leakage_created_by_our_splits_is_an_error(data_root: DataRoot, capsys: pytest.CaptureFixture) -> None:
    fixtures.lingua_libre(data_root.sources)
    step(capsys, ["import", "lingua-libre", "--data-root", str(data_root.root), "--workers", "1"])
    manifest = data_root.data / "lingualibre" / "lingualibre_manifest.tsv"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    test_row = next(line for line in lines if line.startswith("test\t"))
    manifest.write_text("\n".join(lines + ["train" + test_row[len("test"):]]) + "\n", encoding="utf-8")
    step(capsys, ["leakage", "--data-root", str(data_root.root)], EXIT_FAILURE)
    report = json.loads((data_root.reports / "leakage.json").read_text(encoding="utf-8"))
    assert report["totals"]["created"] == {"pairs": 1, "shared_speakers": 1, "shared_sentences": 1}


def test_sentences_shared_across_corpora_are_reported(tmp_path: Path) -> None:
    from stt_tasks.importers.leakage import leakage, load_corpora

    for corpus, split in (("alpha", "train"), ("beta", "test")):
        (tmp_path / corpus).mkdir()
        (tmp_path / corpus / "{}_manifest.tsv".format(corpus)).write_text(
            "split\tassigned\tspeaker\ttranscript\n{}\tofficial\tsame-id\tbonjour\n".format(split), encoding="utf-8"
        )
    report = leakage(load_corpora(tmp_path))
    assert report["totals"]["across_corpora"] == {"pairs": 1, "shared_speakers": 0, "shared_sentences": 1}
    assert report["findings"][0]["evaluation"] == "beta/test"
