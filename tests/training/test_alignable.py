"""The train step's check of its CSVs: copies without the clips CTC cannot align; the originals untouched."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.progress import LOG
from stt_tasks.training.datasets import TrainingData, alignable_csvs, alignable_data, read_rows
from tests.boundary_clips import BOUNDARY_CLIPS, write_boundary_clips

HEADER = "wav_filename,wav_filesize,transcript\n"


def hand_written_csv(folder: Path, name: str = "hand_train.csv") -> Path:
    """A CSV written by hand (relative paths, LF line ends) naming every boundary clip."""
    paths = write_boundary_clips(folder / "clips")
    rows = ["clips/{},{},{}".format(paths[c.name].name, paths[c.name].stat().st_size, c.transcript)
            for c in BOUNDARY_CLIPS]
    csv_path = folder / name
    csv_path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return csv_path


def test_copies_leave_out_exactly_the_clips_ctc_cannot_align(tmp_path, caplog):
    original = hand_written_csv(tmp_path / "hand")
    before = original.read_bytes()
    # Straight on the package's logger: a CLI run in this process (configure_logging) stops propagation.
    LOG.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="stt_tasks"):
            checked = alignable_csvs([original], tmp_path / "tmp" / "train")
    finally:
        LOG.removeHandler(caplog.handler)
    [copy] = checked.csvs
    assert copy.parent == tmp_path / "tmp" / "train" and copy.name.endswith("-hand_train.csv")
    kept = [(Path(row["wav_filename"]).stem, row["transcript"]) for row in read_rows(copy)]
    assert kept == [(c.name, c.transcript) for c in BOUNDARY_CLIPS if c.alignable]
    assert all(Path(row["wav_filename"]).is_absolute() for row in read_rows(copy))
    short = [c for c in BOUNDARY_CLIPS if not c.alignable]
    assert checked.clips == len(BOUNDARY_CLIPS) - len(short)
    assert [Path(wav).stem for wav, _reason in checked.skipped] == [c.name for c in short]
    # Each left-out clip is logged by file name, with the frames it has and needs.
    assert "bonjour_short.wav" in caplog.text and "6 feature frames, its 7-character transcript needs 7" in caplog.text
    assert "elle_short.wav" in caplog.text and "4 feature frames, its 4-character transcript needs 5" in caplog.text
    assert original.read_bytes() == before  # another step's artifact: never rewritten


def test_a_second_check_changes_no_byte(tmp_path):
    original = hand_written_csv(tmp_path / "hand")
    [copy] = alignable_csvs([original], tmp_path / "tmp").csvs
    written = (copy.read_bytes(), copy.stat().st_mtime_ns)
    alignable_csvs([original], tmp_path / "tmp")
    assert (copy.read_bytes(), copy.stat().st_mtime_ns) == written


def test_csvs_of_the_same_name_get_copies_of_their_own(tmp_path):
    first = hand_written_csv(tmp_path / "a", "train.csv")
    second = hand_written_csv(tmp_path / "b", "train.csv")
    copies = alignable_csvs([first, second], tmp_path / "tmp").csvs
    assert len(set(copies)) == 2


def test_an_unreadable_wav_is_left_out_and_a_missing_one_is_a_bad_input(tmp_path):
    folder = tmp_path / "hand"
    csv_path = hand_written_csv(folder)
    (folder / "clips" / "broken.wav").write_bytes(b"RIFF not really")
    csv_path.write_text(csv_path.read_text() + "clips/broken.wav,15,oui\n")
    checked = alignable_csvs([csv_path], tmp_path / "tmp")
    assert checked.skipped[-1][0].endswith("broken.wav") and "unreadable WAV header" in checked.skipped[-1][1]
    csv_path.write_text(csv_path.read_text() + "clips/absent.wav,15,non\n")
    with pytest.raises(BadInputError, match=r"hand_train.csv line \d+: clip .*absent.wav does not exist"):
        alignable_csvs([csv_path], tmp_path / "tmp")


def test_a_split_with_no_clip_left_is_a_bad_input_naming_its_csvs(tmp_path):
    train = hand_written_csv(tmp_path / "hand")
    folder = tmp_path / "dev"
    write_boundary_clips(folder / "clips")
    dev = folder / "hand_dev.csv"
    dev.write_text(HEADER + "clips/bonjour_short.wav,4906,bonjour\n", encoding="utf-8")
    data = TrainingData([train], [dev], tmp_path / "alphabet.txt")
    with pytest.raises(BadInputError, match="no dev clip of .*hand_dev.csv can be trained on"):
        alignable_data(data, tmp_path / "tmp")
    dev.write_text(HEADER + "clips/bonjour_short.wav,4906,bonjour\nclips/un_enough.wav,1708,un\n", encoding="utf-8")
    checked = alignable_data(data, tmp_path / "tmp")
    assert checked.skipped_clips == {"train": 4, "dev": 1}
    assert checked.data.alphabet == data.alphabet and checked.data.train_csvs != data.train_csvs
