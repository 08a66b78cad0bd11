"""M-AILABS specifics: the skipped books are skipped wherever they are, speakers from the tree."""

from __future__ import annotations

from stt_tasks.importers.m_ailabs import prepare_m_ailabs, speaker_of
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures
from tests.importers.test_corpora import rows


def test_every_skipped_book_is_skipped(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.m_ailabs(data_root.sources)
    result = prepare_m_ailabs(data_root, pack, workers=1)
    paths = [row["wav_filename"] for path in result.csvs.values() for row in rows(path)]
    assert paths and all(p.startswith("fr_FR/by_book/") for p in paths)
    assert not any("monsieur_lecoq" in p or "les_mysteres_de_paris" in p for p in paths)


def test_speaker_of_book_folders() -> None:
    assert speaker_of(("fr_FR", "by_book", "female", "ezwa", "livre")) == "ezwa"
    assert speaker_of(("by_book", "mix", "livre")) == "mix/livre"
