"""The import engine's outputs beside the CSVs: the transcripts of the clips too long for training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from stt_tasks.fsio import MARKER_NAME
from stt_tasks.importers.engine import import_clips, previous_result
from stt_tasks.importers.records import ClipRecord, CorpusSpec

from tests.importers.fixtures import wav

SPEC = CorpusSpec(name="engine", ms_per_char=10, max_seconds=10.0, min_seconds=0.5)


def _validate(label: str) -> Optional[str]:
    """A stand-in for the label rules: lower case, digits refused."""
    return None if any(c.isdigit() for c in label) else label.lower()


def test_too_long_transcripts_are_written_and_no_others(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    lengths = {"short": 2.0, "long": 12.0, "tiny": 0.2}
    for name, seconds in lengths.items():
        (audio / (name + ".wav")).write_bytes(wav(seconds))

    def clip(number: int, name: str, transcript: str, split: str = "train") -> ClipRecord:
        return ClipRecord(audio / (name + ".wav"), transcript, "speaker", "clip{}".format(number),
                          "line {}".format(number), split)

    records = [
        clip(1, "short", "Une phrase gardée"),
        clip(2, "long", "Une Phrase bien trop longue"),
        clip(3, "long", "Une phrase bien trop longue", "dev"),  # the same sentence again: written once
        clip(4, "long", "Zut une autre longue phrase"),
        clip(5, "long", "Avant les autres longues phrases"),
        clip(6, "tiny", "Une phrase bien trop longue pour un clip si court"),  # too short
        clip(7, "long", "En 1850 il partit"),  # invalid label, never decoded
        clip(8, "absent", "Un fichier absent"),  # missing file
    ]
    corpus = tmp_path / "data" / "engine"
    result = import_clips(SPEC, records, corpus, _validate, {"source": 1}, workers=1)

    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["dropped"] == {"too_long": 4, "too_short": 1, "invalid_label": 1, "missing_file": 1}
    assert result.too_long == corpus / "engine_too_long.txt"
    # Validated labels, each once, sorted: one sentence per line.
    assert result.too_long.read_text(encoding="utf-8") == (
        "avant les autres longues phrases\nune phrase bien trop longue\nzut une autre longue phrase\n"
    )
    assert result.as_json()["too_long"] == str(result.too_long)
    assert "engine_too_long.txt" in result.report_text.read_text(encoding="utf-8")

    # A completion output like the CSVs: recorded in the marker, restored with the previous result.
    marker = json.loads((corpus / MARKER_NAME).read_text(encoding="utf-8"))
    assert str(result.too_long) in [output["path"] for output in marker["outputs"]]
    again = previous_result(corpus, {"source": 1})
    assert again is not None and again.too_long == result.too_long
    result.too_long.unlink()
    assert previous_result(corpus, {"source": 1}) is None  # a missing output means the import is stale


def test_without_too_long_clips_the_file_is_empty(tmp_path: Path) -> None:
    source = tmp_path / "short.wav"
    source.write_bytes(wav(2.0))
    record = ClipRecord(source, "bonjour", "speaker", "clip", "line 1", "train")
    result = import_clips(SPEC, [record], tmp_path / "engine", _validate, {}, workers=1)
    assert result.too_long.read_bytes() == b""
    assert "_too_long.txt" not in result.report_text.read_text(encoding="utf-8")


def test_a_result_recorded_without_the_too_long_file_is_not_reused(tmp_path: Path) -> None:
    source = tmp_path / "short.wav"
    source.write_bytes(wav(2.0))
    record = ClipRecord(source, "bonjour", "speaker", "clip", "line 1", "train")
    corpus = tmp_path / "engine"
    import_clips(SPEC, [record], corpus, _validate, {}, workers=1)
    marker_path = corpus / MARKER_NAME
    marker = json.loads(marker_path.read_text(encoding="utf-8"))
    del marker["result"]["too_long"]  # as an import made before this output existed recorded it
    marker_path.write_text(json.dumps(marker), encoding="utf-8")
    assert previous_result(corpus, {}) is None
