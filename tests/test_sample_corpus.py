"""The sample corpus: the exact Common Voice release layout, reproducible bytes."""

from __future__ import annotations

import tarfile
from pathlib import Path

from stt_tasks.sample_corpus import build_sample_corpus


def test_layout(sample_release):
    archive = Path(sample_release["archive"])
    assert archive.name == "cv-corpus-99.0-2026-01-01-fr.tar.gz"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        train = tar.extractfile("cv-corpus-99.0-2026-01-01/fr/train.tsv").read().decode().splitlines()
    for tsv in ("train", "dev", "test", "validated", "invalidated", "other", "reported"):
        assert "cv-corpus-99.0-2026-01-01/fr/{}.tsv".format(tsv) in names
    clips = [n for n in names if n.startswith("cv-corpus-99.0-2026-01-01/fr/clips/") and n.endswith(".mp3")]
    assert len(clips) == sample_release["clips"] == 8 * 16 + 2
    assert train[0].split("\t")[:3] == ["client_id", "path", "sentence"]
    assert len(train[1].split("\t")[0]) == 128  # client ids are sha512 hex, as in releases
    assert Path(sample_release["lm_text"]).read_text(encoding="utf-8").count("\n") >= 40


def test_reproducible(tmp_path, fr_pack, sample_release):
    again = build_sample_corpus(tmp_path, fr_pack)
    assert again["sha256"] == sample_release["sha256"]
