"""A data root as the steps after training find it: CSVs and clips, alphabet, best checkpoint, LM and scorer."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import pytest

from stt_tasks.layout import DataRoot
from stt_tasks.lm.scorer import KENLM_MAGIC, prepare_dictionary, write_package


def write_scorer_package(package: Path, alphabet: Path, alpha: float = 0.0, beta: float = 0.0) -> Path:
    """A scorer package in the real layout (dictionary FST of "la mer" for ``alphabet``, decoder header)
    after a stand-in KenLM binary: enough for what reads the header, not for decoding."""
    with tempfile.TemporaryDirectory() as work:
        binary = Path(work) / "lm.binary"
        binary.write_bytes(KENLM_MAGIC + b"\0" * (128 - len(KENLM_MAGIC)))  # has_vocabulary (byte 100) = 0
        vocabulary = Path(work) / "vocabulary.txt"
        vocabulary.write_text("la mer\n", encoding="utf-8")
        write_package(binary, prepare_dictionary(vocabulary, alphabet), package, alpha, beta)
    return package


@pytest.fixture
def scorer_package() -> Callable[..., Path]:
    """``write_scorer_package`` for the tests: ``scorer_package(path, alphabet, alpha=, beta=)``."""
    return write_scorer_package


@pytest.fixture
def trained_root(tmp_path) -> DataRoot:
    root = DataRoot(tmp_path / "data")
    root.create()
    corpus = root.corpus_dir("cv-fr")
    (corpus / "clips").mkdir(parents=True)
    header = "wav_filename,wav_filesize,transcript\n"
    for split in ("train", "dev", "test"):
        (corpus / "clips" / "{}.wav".format(split)).write_bytes(b"x" * 100)
        (corpus / "cv-fr_{}.csv".format(split)).write_text(header + "clips/{}.wav,100,la mer\n".format(split),
                                                            encoding="utf-8")
    root.alphabet.write_text(" \na\ne\nl\nm\nr\n", encoding="utf-8")
    (root.checkpoints / "best_dev_checkpoint").write_text('model_checkpoint_path: "{0}/best_dev-10"\n'
                                                         .format(root.checkpoints), encoding="utf-8")
    (root.checkpoints / "best_dev-10.index").write_bytes(b"x")
    write_scorer_package(root.scorer, root.alphabet)
    return root


def fake_acoustic_pass(calls: list) -> Callable[..., list]:
    """Coqui's acoustic pass where TensorFlow is absent (it runs for real in the image tests): writes, through
    the real writer, one stored file per CSV (a clip of 3 frames per row) and records the flags and outputs."""
    import json

    import numpy as np

    from stt_tasks.training.acoustic_pass import write_outputs
    from stt_tasks.training.datasets import read_rows

    def run_coqui(module, flags, extra_env=None, on_line=None):
        settings = json.loads(extra_env["STT_ACOUSTIC_PASS"])
        calls.append({"module": module, "flags": dict(flags), "outputs": settings["outputs"]})
        for entry in settings["outputs"]:
            rows = read_rows(Path(entry["csv"]))
            write_outputs(Path(entry["path"]), {
                "probabilities": [np.full((3, 7), 1 / 7, dtype=np.float32) for _ in rows],
                "lengths": [3] * len(rows), "losses": [1.0] * len(rows),
                "wav_filenames": [r["wav_filename"] for r in rows], "transcripts": [r["transcript"] for r in rows]})
        return []

    return run_coqui


@pytest.fixture
def acoustic_pass(monkeypatch) -> list:
    """Every acoustic pass run, as ``{"module", "flags", "outputs"}`` (see ``fake_acoustic_pass``)."""
    from stt_tasks.training import acoustic

    calls: list = []
    monkeypatch.setattr(acoustic, "run_coqui", fake_acoustic_pass(calls))
    return calls
