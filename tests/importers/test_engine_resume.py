"""The import engine: a killed import resumes and ends with the same bytes; splits are stable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stt_tasks.importers.engine import csv_text, speaker_split

from tests.conftest import REPO


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
