"""CCPMF specifics: split zip of a nested zip, XML rows merged into segments cut from the mp3."""

from __future__ import annotations

import dataclasses
import json
import wave

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.importers.ccpmf import Row, merge_rows, prepare_ccpmf
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
