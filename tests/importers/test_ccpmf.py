"""CCPMF specifics: split zip of a nested zip, XML rows merged into segments cut from the mp3."""

from __future__ import annotations

import dataclasses
import json
import wave

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.importers.ccpmf import Row, merge_rows, prepare_ccpmf, spoken
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures
from tests.importers.test_corpora import rows


def test_merge_rows_emits_every_segment_within_the_maximum() -> None:
    segments = merge_rows(
        [Row(0.5, 1.5, "a"), Row(2.0, 1.5, "b"), Row(3.5, 1.5, "c"), Row(6.0, 1.0, "d")], max_seconds=4.5
    )
    # b+c would make 4.5 s from 0.5: a+b (3.0 s) fits, adding c (4.5 s) fits; d after a gap stands alone.
    assert [(s.start, s.end, s.text) for s in segments] == [(0.5, 5.0, "a b c"), (6.0, 7.0, "d")]
    assert [s.text for s in merge_rows([Row(0.0, 3.0, "a"), Row(3.0, 3.0, "b")], 4.5)] == ["a", "b"]


def test_segments_are_cut_to_their_rows(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.ccpmf(data_root.sources)
    result = prepare_ccpmf(data_root, pack, workers=1)
    train = rows(result.csvs["train"])
    assert train[0]["transcript"].startswith("bonjour à toutes et à tous mesdames et messieurs merci")
    assert "deux pour cent" in train[1]["transcript"]
    assert train[2]["transcript"] == "elle était de trois virgule cinq pour cent l'an dernier en deux mille dix neuf"
    with wave.open(str(result.directory / train[0]["wav_filename"])) as clip:
        assert clip.getnframes() == pytest.approx(3.0 * 16000, abs=2)  # rows 0.5-2.0 and 2.0-3.5
    assert train[0]["wav_filename"].endswith("_000000.wav")


def test_a_gap_in_the_parts_is_a_bad_input(data_root: DataRoot, pack: LanguagePack) -> None:
    fixture = fixtures.ccpmf(data_root.sources)
    fixture.archives[1].unlink()
    with pytest.raises(BadInputError, match="without gaps"):
        prepare_ccpmf(data_root, pack, workers=1)


def test_the_maximum_segment_duration_comes_from_the_language_pack(data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.ccpmf(data_root.sources)
    parameters = dict(pack.corpus_parameters, ccpmf={"max_seconds": 10.0})
    result = prepare_ccpmf(data_root, dataclasses.replace(pack, corpus_parameters=parameters), workers=1)
    dropped = json.loads(result.report.read_text(encoding="utf-8"))["dropped"]
    assert "too_long" not in dropped  # the 6 s row now fits (and is dropped as misaligned instead)
    assert dropped["misaligned"] == 2


@pytest.mark.parametrize(
    "written,said",
    [
        ("Le déficit atteint 3,5 % du PIB.", "le déficit atteint trois virgule cinq pour cent du pib"),
        ("Plus de 50 000 emplois et 1 500 000 euros.", "plus de cinquante mille emplois et un million cinq cent mille euros"),
        ("En 2019 100 personnes.", "en deux mille dix neuf cent personnes"),  # a year is no thousands group
        ("La séance reprend à 14:30.", "la séance reprend à quatorze heures trente minutes"),
        ("Durée : 1:05:21.", "durée une heure cinq minutes et vingt et une secondes"),
        ("Rendez-vous à 9:00.", "rendez vous à neuf heures"),
        ("Des bureaux de 200 m² à 5 €.", "des bureaux de deux cents mètres carrés à cinq euros"),
        ("Les années 70-80, 2019/2022.", "les années soixante dix quatre vingts deux mille dix neuf deux mille vingt deux"),
        ("Le 1er ministre et le 21e siècle.", "le premier ministre et le vingt et unième siècle"),
        ("Le B2B, #Bercy et @minefi.", "le b to b hashtag bercy et at minefi"),
        ("Le n° 3 de la liste.", "le numéro trois de la liste"),
        ("Un film en 3D.", None),  # digits glued to letters: the reading is unknown
        ("Appelez le 061234567890123.", None),  # a code, not a quantity
    ],
)
def test_numbers_and_symbols_are_said(pack: LanguagePack, written: str, said: str) -> None:
    assert pack.validate_label(spoken(written)) == said
