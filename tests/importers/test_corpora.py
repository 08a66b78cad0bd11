"""What every corpus importer must do, checked on each corpus's generated fixture.

Per-corpus specifics (layout quirks, skip lists, segment cutting) are in ``test_<corpus>.py``.
"""

from __future__ import annotations

import csv
import json
import wave
from pathlib import Path
from typing import Dict, List

import pytest

from stt_tasks.errors import NothingToDoError
from stt_tasks.fsio import MARKER_NAME
from stt_tasks.importers.engine import ImportResult
from stt_tasks.importers.registry import corpora
from stt_tasks.languages import ENGLISH_ALPHABET_SET, LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures

#: the corpora imported from an archive (Common Voice has its own tests: test_cv_*.py)
CORPORA = [name for name, spec in corpora().items() if spec.downloadable]


def rows(path: Path) -> List[Dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def run(corpus: str, data_root: DataRoot, pack: LanguagePack, **options: object) -> ImportResult:
    options.setdefault("workers", 1)
    return corpora()[corpus].prepare(data_root, pack, **options)  # type: ignore[no-any-return]


def contents(folder: Path) -> List[str]:
    """The names in ``folder`` (hidden ones too); empty when it does not exist."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def snapshot(directory: Path) -> Dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MARKER_NAME
    }


@pytest.mark.parametrize("corpus", CORPORA)
def test_happy_path_and_bad_inputs(corpus: str, data_root: DataRoot, pack: LanguagePack) -> None:
    fixture = fixtures.BUILDERS[corpus](data_root.sources)
    result = run(corpus, data_root, pack)

    assert result.clips == fixture.kept
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["dropped"] == fixture.dropped
    assert report["source_issues"] == fixture.source_issues
    assert report["kept_hours"] > 0
    assert "Dropped" in result.report_text.read_text(encoding="utf-8")
    # The transcripts of the clips too long for training, for the LM (lm_add_excluded_max_sec).
    too_long = result.too_long.read_text(encoding="utf-8").splitlines()
    assert result.too_long == result.directory / "{}_too_long.txt".format(result.corpus)
    assert len(too_long) == fixture.dropped.get("too_long", 0)
    assert all(pack.validate_label(line) == line for line in too_long)
    assert result.directory == data_root.data / result.corpus
    for split, path in result.csvs.items():
        assert path.name == "{}_{}.csv".format(result.corpus, split)
        assert path.read_bytes().startswith(b"wav_filename,wav_filesize,transcript\r\n")
        for row in rows(path):
            clip = path.parent / row["wav_filename"]  # relative to the CSV's folder
            assert not Path(row["wav_filename"]).is_absolute()
            assert clip.stat().st_size == int(row["wav_filesize"])
            with wave.open(str(clip)) as audio:
                assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (16000, 1, 2)
            assert pack.validate_label(row["transcript"]) == row["transcript"]


@pytest.mark.parametrize("corpus", CORPORA)
def test_rerun_is_skipped_and_resume_gives_the_same_bytes(corpus: str, data_root: DataRoot, pack: LanguagePack) -> None:
    fixture = fixtures.BUILDERS[corpus](data_root.sources)
    first = run(corpus, data_root, pack)
    before = snapshot(first.directory)

    again = run(corpus, data_root, pack)
    assert again.skipped and again.clips == first.clips

    # A run killed mid-way: marker gone, one clip not written yet, a half-written temporary left.
    (first.directory / MARKER_NAME).unlink()
    some_clip = first.directory / rows(first.csvs["train"])[0]["wav_filename"]
    some_clip.unlink()
    (some_clip.parent / ".{}.tmp-12345".format(some_clip.name)).write_bytes(b"partial")
    resumed = run(corpus, data_root, pack, workers=2)
    assert not resumed.skipped
    assert snapshot(first.directory) == before

    # Sources are never written to: only the archives are there.
    assert sorted(p.name for p in data_root.sources.iterdir()) == sorted(a.name for a in fixture.archives)


@pytest.mark.parametrize("corpus", CORPORA)
def test_english_compatible_labels(corpus: str, data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.BUILDERS[corpus](data_root.sources)
    result = run(corpus, data_root, pack, english_compatible=True)
    transcripts = [row["transcript"] for path in result.csvs.values() for row in rows(path)]
    assert transcripts
    assert all(set(t) <= ENGLISH_ALPHABET_SET for t in transcripts)


@pytest.mark.parametrize("corpus", CORPORA)
def test_absent_source_is_nothing_to_do(corpus: str, data_root: DataRoot, pack: LanguagePack) -> None:
    with pytest.raises(NothingToDoError, match="--download"):
        run(corpus, data_root, pack)
    # Nothing was made: no corpus folder, no extraction (not even an empty one or its marker).
    assert contents(data_root.data) == [] and contents(data_root.releases) == []


def test_an_interrupted_extraction_is_cleaned_up_and_redone(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.mls(data_root.sources)
    stale = data_root.releases / ".MLS.tmp-99999"  # scratch of a run killed while extracting
    (stale / "mls_french_opus").mkdir(parents=True)
    result = run("mls", data_root, pack)
    assert not stale.exists()
    assert sorted(p.name for p in data_root.releases.iterdir()) == [".MLS.extracted.json", "MLS"]
    assert result.clips == {"train": 2, "dev": 1, "test": 1}
