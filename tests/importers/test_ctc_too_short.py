"""The engine's too-short rule is CTC's: coqui's frame count against characters plus repeated pairs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from stt_tasks.importers.engine import import_clips
from stt_tasks.importers.records import ClipRecord, CorpusSpec
from tests.boundary_clips import BOUNDARY_CLIPS, write_boundary_clips

#: Common Voice's limits: 20 ms per character, at most 10 s.
SPEC = CorpusSpec(name="boundary", ms_per_char=20, max_seconds=10.0)


def test_clips_ctc_cannot_align_are_dropped_as_too_short(tmp_path: Path, pack) -> None:
    paths = write_boundary_clips(tmp_path / "audio")
    records = [ClipRecord(paths[clip.name], clip.transcript, "speaker", clip.name, "line {}".format(number), "train")
               for number, clip in enumerate(BOUNDARY_CLIPS, start=2)]
    result = import_clips(SPEC, records, tmp_path / "data" / "boundary", lambda label: pack.validate_label(label, False),
                          {"source": "boundary"}, workers=1)

    with open(result.csvs["train"], encoding="utf-8", newline="") as handle:
        kept = {row["wav_filename"]: row["transcript"] for row in csv.DictReader(handle)}
    assert kept == {clip.name + ".wav": clip.transcript for clip in BOUNDARY_CLIPS if clip.alignable}
    report = json.loads(result.report.read_text(encoding="utf-8"))
    short = [clip for clip in BOUNDARY_CLIPS if not clip.alignable]
    assert report["dropped"] == {"too_short": len(short)}
    for clip in short:  # the report names each dropped clip by where it came from
        assert "line {}".format(BOUNDARY_CLIPS.index(clip) + 2) in json.dumps(report)
    # The kept WAVs are the very samples given: the rule was decided on what coqui will read.
    for clip in BOUNDARY_CLIPS:
        wav = result.directory / (clip.name + ".wav")
        assert wav.is_file() is clip.alignable
        if clip.alignable:
            assert wav.stat().st_size == 44 + 2 * clip.samples


def test_the_rule_is_recorded_so_a_change_re_imports(tmp_path: Path, pack) -> None:
    from stt_tasks.fsio import CompletionMarker
    from stt_tasks.importers.engine import import_corpus
    from stt_tasks.layout import DataRoot

    paths = write_boundary_clips(tmp_path / "audio")
    root = DataRoot(tmp_path / "data")
    root.create()
    clip = BOUNDARY_CLIPS[0]

    def records(_issues):
        return [ClipRecord(paths[clip.name], clip.transcript, "speaker", clip.name, "line 2", "train")]

    import_corpus(SPEC, root, pack, False, 1, {"archive": "boundary"}, records)
    inputs = CompletionMarker(root.corpus_dir(SPEC.name)).read()["inputs"]
    assert inputs["ctc_features"] == "16000 Hz, 32 ms windows every 20 ms"
