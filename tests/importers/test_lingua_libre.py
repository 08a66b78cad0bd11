"""Lingua Libre specifics: file names are transcripts, speaker folders, skiplist, zip name encodings."""

from __future__ import annotations

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.importers.lingua_libre import load_skiplist, prepare_lingua_libre, speaker_of
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures
from tests.importers.test_corpora import contents, rows


def test_skiplist_lives_in_the_language_pack(pack: LanguagePack) -> None:
    patterns = load_skiplist(pack)
    assert len(patterns) == 9
    assert any(p.match("Olivier Yao/bonjour.ogg") for p in patterns)
    assert not any(p.match("Olivier/bonjour.ogg") for p in patterns)


def test_speaker_is_the_user_name() -> None:
    assert speaker_of("Marie L (Marie Lefèvre)") == "Marie L"
    assert speaker_of("Jdupont") == "Jdupont"


def test_transcripts_speakers_and_sentences(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.lingua_libre(data_root.sources)
    result = prepare_lingua_libre(data_root, pack, workers=1)
    train = {row["transcript"] for row in rows(result.csvs["train"])}
    assert {"pomme de terre", "arc en ciel", "chaise"} <= train  # qualifier "(meuble)" dropped
    assert "soleil" not in train  # the test speaker said it too: a sentence belongs to one split
    assert "élève" in {row["transcript"] for row in rows(result.csvs["dev"])}  # UTF-8 name without the zip flag
    manifest = (result.directory / "lingualibre_manifest.tsv").read_text(encoding="utf-8")
    assert "Locutrice1\tarc en ciel" in manifest and "Marie Lefèvre" not in manifest
    assert not any("Modjou" in row["wav_filename"] for path in result.csvs.values() for row in rows(path))


def test_zip_member_escaping_the_target_is_refused(data_root: DataRoot, pack: LanguagePack) -> None:
    # Extracted into extracted/releases/<scratch>/, this member climbs to extracted/evil.ogg: outside.
    member = "Q21-fra-French/../../../evil.ogg"
    fixtures.write_zip(data_root.sources / "Q21-fra-French.zip", [("Q21-fra-French/ok.ogg", b"x"), (member, b"x")])
    with pytest.raises(BadInputError, match="evil.ogg.*'..'"):
        prepare_lingua_libre(data_root, pack, workers=1)
    assert not (data_root.extracted / "evil.ogg").exists()
    assert not list(data_root.root.rglob("evil.ogg"))
    assert contents(data_root.releases) == []  # the scratch folder is gone too


def test_truncated_zip_is_a_bad_input(data_root: DataRoot, pack: LanguagePack) -> None:
    archive = fixtures.lingua_libre(data_root.sources).archives[0]
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    truncated = archive.read_bytes()
    with pytest.raises(BadInputError, match="not a readable zip.*download it again"):
        prepare_lingua_libre(data_root, pack, workers=1)
    # No partial extraction is left to be taken for a complete one, and the source is left as it was.
    assert contents(data_root.releases) == [] and contents(data_root.data) == []
    assert archive.read_bytes() == truncated
