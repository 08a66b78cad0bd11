"""A data root as the steps after training find it: CSVs and clips, alphabet, best checkpoint, LM and scorer."""

from __future__ import annotations

import pytest

from stt_tasks.layout import DataRoot


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
    (root.lm / "lm.binary").write_bytes(b"lm")
    root.scorer.write_bytes(b"lm+dictionary")
    return root
