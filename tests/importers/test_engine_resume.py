"""The import engine: a killed import resumes and ends with the same bytes; splits are stable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

from stt_tasks.importers.engine import csv_text, import_clips, speaker_split
from stt_tasks.importers.ledger import ClipLedger
from stt_tasks.importers.records import ClipRecord, CorpusSpec

from tests.conftest import REPO
from tests.importers.fixtures import tone, wav


def snapshot(directory: Path):
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_killed_import_resumes_to_identical_outputs(tmp_path, sample_data_root, step, sample_release):
    reference_root = tmp_path / "reference"
    (reference_root / "sources").mkdir(parents=True)
    archive = Path(sample_release["archive"])
    os.link(str(sample_data_root.sources / archive.name), str(reference_root / "sources" / archive.name))
    reference = step("import", "common-voice", "--data-root", str(reference_root), "--workers", "2")
    assert reference.returncode == 0, reference.stderr

    # Extract first, so that the kill lands in the conversion phase.
    clips_dir = sample_data_root.data / "cv-fr" / "clips"
    process = subprocess.Popen(
        [sys.executable, "-m", "stt_tasks", "import", "common-voice", "--data-root", str(sample_data_root.root), "--workers", "1"],
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if clips_dir.is_dir() and len(list(clips_dir.glob("*.wav"))) >= 10:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    converted = len(list(clips_dir.glob("*.wav")))
    assert 10 <= converted < 128, "the kill must land mid-import ({} clips converted)".format(converted)
    assert not (sample_data_root.data / "cv-fr" / "cv-fr_train.csv").exists()

    resumed = step("import", "common-voice", "--data-root", str(sample_data_root.root), "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(sample_data_root.data / "cv-fr") .keys() == snapshot(reference_root / "extracted" / "data" / "cv-fr").keys()
    ours = snapshot(sample_data_root.data / "cv-fr")
    theirs = snapshot(reference_root / "extracted" / "data" / "cv-fr")
    different = [name for name in ours if ours[name] != theirs[name] and name != ".completed.json"]
    assert different == []
    assert not [name for name in ours if ".tmp-" in name]


def test_speaker_split_is_stable_and_balanced():
    speakers = ["speaker-{}".format(i) for i in range(2000)]
    splits = [speaker_split(s) for s in speakers]
    assert splits == [speaker_split(s) for s in speakers]
    share = {name: splits.count(name) / len(splits) for name in ("train", "dev", "test")}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["dev"] < 0.13 and 0.07 < share["test"] < 0.13


def test_csv_quoting_and_line_endings():
    text = csv_text([("clips/a.wav", 10, "bonjour, toi"), ("clips/b.wav", 20, "l'eau")])
    assert text == 'wav_filename,wav_filesize,transcript\r\nclips/a.wav,10,"bonjour, toi"\r\nclips/b.wav,20,l\'eau\r\n'


SPEC = CorpusSpec(name="engine", ms_per_char=10, max_seconds=10.0)


def _import_segment(directory: Path, source: Path, start: float, end: float) -> int:
    """Import one segment of ``source`` under the same clip id; return the WAV's frame count."""
    record = ClipRecord(source, "bonjour", "speaker", "talk/talk_000000", "talk.xml segment 0", "train", start, end)
    result = import_clips(SPEC, [record], directory, lambda label: label, {}, workers=1)
    assert result.clips["train"] == 1
    with wave.open(str(directory / "talk" / "talk_000000.wav")) as clip:
        return clip.getnframes()


def test_a_changed_segment_is_cut_again(tmp_path):
    source = tmp_path / "talk.wav"
    source.write_bytes(wav(5.0))
    corpus = tmp_path / "data" / "engine"
    assert _import_segment(corpus, source, 0.5, 1.5) == 16000
    assert _import_segment(corpus, source, 0.5, 4.5) == 64000  # same clip id, longer segment
    assert _import_segment(corpus, source, 0.5, 1.5) == 16000


def test_a_changed_source_is_converted_again(tmp_path):
    source = tmp_path / "talk.wav"
    source.write_bytes(wav(5.0))
    corpus = tmp_path / "data" / "engine"
    _import_segment(corpus, source, 0.0, 2.0)
    target = corpus / "talk" / "talk_000000.wav"
    written = target.stat().st_mtime_ns
    _import_segment(corpus, source, 0.0, 2.0)
    assert target.stat().st_mtime_ns == written  # unchanged source and segment: the WAV is reused
    # A re-published clip: same name, other audio (louder), other size.
    louder = (tone(6.0, 16000) * 3.0 * 32767).astype("<i2")
    with wave.open(str(source), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(louder.tobytes())
    before = _peak(target)
    _import_segment(corpus, source, 0.0, 2.0)
    assert _peak(target) > 2 * before


def _peak(path: Path) -> int:
    with wave.open(str(path)) as clip:
        return int(np.abs(np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")).max())


def test_a_wav_without_ledger_entry_is_not_trusted(tmp_path):
    source = tmp_path / "talk.wav"
    source.write_bytes(wav(5.0))
    corpus = tmp_path / "data" / "engine"
    stale = corpus / "talk" / "talk_000000.wav"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(wav(3.0))  # left by an older import: nothing says what it was cut from
    assert _import_segment(corpus, source, 0.5, 1.5) == 16000
    ledger = ClipLedger(corpus)
    assert list(ledger.recorded) == ["talk/talk_000000"]
    # A line cut short by a kill is ignored, and the next line still reads.
    with open(ledger.path, "a", encoding="utf-8") as handle:
        handle.write('["talk/talk_00')
    assert _import_segment(corpus, source, 0.5, 2.5) == 32000
    assert ClipLedger(corpus).recorded.keys() == {"talk/talk_000000"}
