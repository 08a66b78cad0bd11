"""OpenSLR 57 specifics: transcripts keyed by audio base name, the corpus's own partitions."""

from __future__ import annotations

from pathlib import Path

from stt_tasks.importers.african_accented_french import (
    TRANSCRIPT_FILES,
    prepare_african_accented_french,
    read_transcripts,
    speaker_of,
)
from stt_tasks.importers.records import SourceIssues
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures
from tests.importers.test_corpora import rows


def test_official_partitions_are_kept(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.african_accented_french(data_root.sources)
    result = prepare_african_accented_french(data_root, pack, workers=1)
    partitions = {split: {row["wav_filename"].split("/")[1] for row in rows(path)} for split, path in result.csvs.items()}
    assert partitions == {"train": {"train"}, "dev": {"dev", "devtest"}, "test": {"test"}}
    train = {row["transcript"] for row in rows(result.csvs["train"])}
    assert "bonjour je m'appelle paul" in train  # a .tdf first token names the .wav


def test_missing_transcript_file_is_counted_not_fatal(tmp_path: Path) -> None:
    for relative in TRANSCRIPT_FILES[1:]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("clip_0001 bonjour\n", encoding="utf-8")
    issues = SourceIssues()
    transcripts = read_transcripts(tmp_path, issues)
    assert transcripts["clip_0001.wav"][0] == "bonjour"
    assert issues.counts["missing_transcript_file"] == 1
    assert issues.counts["duplicate_transcript"] == 4  # five space-separated files name the same clip
    assert issues.counts["malformed_row"] == 1  # the TSV wants a TAB


def test_speakers() -> None:
    assert speaker_of(Path("speech/train/yaounde/read/d01/mach1-spk01-0001.wav")) == "spk01"
    assert speaker_of(Path("speech/test/ca16/spk40/ca16_test_spk40_0001.wav")) == "spk40"
