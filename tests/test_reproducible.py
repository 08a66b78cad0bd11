"""Release archives: the same content gives the same bytes, whatever the files' times and permissions."""

from __future__ import annotations

import os
import zipfile

from stt_tasks.reproducible import MEMBER_MTIME, write_zip


def test_a_zip_of_the_same_files_is_the_same_bytes(tmp_path):
    model, scorer = tmp_path / "output_graph.tflite", tmp_path / "kenlm.scorer"
    model.write_bytes(b"model" * 1000)
    scorer.write_bytes(bytes(range(256)) * 100)
    write_zip(tmp_path / "a.zip", [(model, model.name), (scorer, scorer.name)])
    os.utime(str(model), (1700000000, 1700000000))
    scorer.chmod(0o600)
    write_zip(tmp_path / "b.zip", [(model, model.name), (scorer, scorer.name)])
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(str(tmp_path / "b.zip")) as archive:
        infos = archive.infolist()
        assert archive.read("kenlm.scorer") == scorer.read_bytes()
    assert [i.filename for i in infos] == ["output_graph.tflite", "kenlm.scorer"]  # the order given
    assert {(i.date_time, i.external_attr >> 16) for i in infos} == {((1980, 1, 1, 0, 0, 0), 0o100644)}
    assert MEMBER_MTIME == 315532800 and not list(tmp_path.glob(".*tmp-*"))
