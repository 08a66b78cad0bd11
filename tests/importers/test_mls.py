"""MLS specifics: its own speaker-disjoint splits are kept; Opus clips become 16 kHz WAVs."""

from __future__ import annotations

from stt_tasks.importers.mls import prepare_mls
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures
from tests.importers.test_corpora import rows


def test_official_splits_and_paths(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.mls(data_root.sources)
    result = prepare_mls(data_root, pack, workers=1)
    speakers = {split: {row["wav_filename"].split("/")[2] for row in rows(path)} for split, path in result.csvs.items()}
    assert speakers == {"train": {"1234"}, "dev": {"2001"}, "test": {"3001"}}
    first = rows(result.csvs["train"])[0]
    assert first["wav_filename"] == "train/audio/1234/5678/1234_5678_000012.wav"
    assert first["transcript"] == "et il s'en alla sans rien dire"
