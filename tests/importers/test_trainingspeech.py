"""TrainingSpeech specifics: data.csv quoting and encodings, splits by source chapter."""

from __future__ import annotations

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.importers.trainingspeech import prepare_trainingspeech
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures
from tests.importers.test_corpora import rows


def test_transcripts_and_chapter_splits(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.trainingspeech(data_root.sources)
    result = prepare_trainingspeech(data_root, pack, workers=1)
    train = {row["transcript"]: row["wav_filename"] for row in rows(result.csvs["train"])}
    assert "il marchait vite sans se retourner" in train  # quoted field with a comma
    assert "l'homme sourit" in train  # typographic apostrophe kept as an apostrophe
    # TrainingSpeech's own pre-clean: "*", brackets, ";" and "°" are spaces (the rules reject "*")
    assert "le jour enfin se leva l'aube" in train
    chapters = {
        split: {row["wav_filename"].rsplit("_", 1)[0] for row in rows(path)} for split, path in result.csvs.items()
    }
    assert all(len(names) == 1 for names in chapters.values())
    assert len(set.union(*chapters.values())) == 3  # one chapter per split, never shared


def test_wrong_header_names_the_file(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.write_zip(data_root.sources / "ts_2019-04-11_fr_FR.zip", [("data.csv", b"path;duration;text\n")])
    with pytest.raises(BadInputError, match="data.csv line 1"):
        prepare_trainingspeech(data_root, pack, workers=1)
