"""The machine's failures as one line with the fix: real errors, raised by the standard library here."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from stt_tasks import diskspace
from stt_tasks.errors import EXIT_FAILURE, EXIT_SETUP, EXIT_TEMPFAIL
from stt_tasks.failures import explain_os_error


def raised(call) -> OSError:
    with pytest.raises(OSError) as caught:
        call()
    return caught.value


def test_a_missing_tool_names_it_and_the_image(tmp_path):
    error = raised(lambda: subprocess.run(["stt-no-such-tool"]))
    failure = explain_os_error(error, tmp_path, None)
    assert failure is not None and failure.exit_code == EXIT_SETUP
    assert "the tool 'stt-no-such-tool' is not installed" in str(failure) and "stt-tasks image" in str(failure)


def test_a_missing_data_file_is_not_a_missing_tool(tmp_path):
    error = raised(lambda: open(str(tmp_path / "gone.tsv")))
    failure = explain_os_error(error, tmp_path, None)
    assert failure is not None and failure.exit_code == EXIT_FAILURE
    assert str(failure).startswith("{}: No such file or directory.".format(tmp_path / "gone.tsv"))


def test_a_folder_where_a_file_is_expected_names_it(tmp_path):
    error = raised(lambda: open(str(tmp_path)))
    failure = explain_os_error(error, tmp_path, None)
    assert failure is not None and str(tmp_path) in str(failure) and "\n" not in str(failure)


def test_an_error_without_a_file_is_left_with_its_traceback(tmp_path):
    error = raised(lambda: os.read(-1, 1))  # EBADF, no file name: not one we can explain
    assert explain_os_error(error, tmp_path, None) is None


def test_a_full_disk_with_the_steps_estimate(tmp_path):
    def write():
        with diskspace.writing("the import of cv-fr", lambda: 7_900_000):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write(2) reports it: no file name

    failure = explain_os_error(raised(write), tmp_path, 5_000_000)
    assert failure is not None and failure.exit_code == EXIT_TEMPFAIL
    message = str(failure)
    assert "data root {}".format(tmp_path) in message and "the import of cv-fr needed about 7.9 MB" in message
    assert "free now" in message and "retried" in message


def test_a_full_disk_without_an_estimate_is_bounded_by_what_was_free(tmp_path):
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "lm" / "lm.arpa"))
    message = str(explain_os_error(error, tmp_path, 2_500_000))
    assert "(writing {})".format(tmp_path / "lm" / "lm.arpa") in message
    assert "needed more than the 2.5 MB free when it started" in message


def test_a_full_disk_outside_the_data_root_names_that_place(tmp_path):
    error = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), "/var/tmp/scratch")
    message = str(explain_os_error(error, tmp_path / "data", None))
    assert "/var/tmp/scratch (outside the data root {})".format(tmp_path / "data") in message


def test_the_estimate_is_taken_when_the_disk_fills_not_before():
    counted = []

    def write():
        with diskspace.writing("clips", lambda: sum(counted)):
            counted.extend([100, 200])
            raise OSError(errno.ENOSPC, "full")

    assert diskspace.space_needed(raised(write)) == diskspace.SpaceNeeded("clips", 300)


def test_other_errors_pass_through_writing_untouched():
    def write():
        with diskspace.writing("clips", lambda: 1):
            raise OSError(errno.EIO, "input/output error")

    assert diskspace.space_needed(raised(write)) is None


def test_free_bytes_of_a_folder_not_made_yet(tmp_path):
    assert diskspace.free_bytes(tmp_path / "not" / "yet") == diskspace.free_bytes(tmp_path) > 0


@pytest.mark.parametrize("size, text", [(None, "an unknown amount"), (512, "512 B"), (41_000, "41.0 kB"),
                                        (7_937_755, "7.9 MB"), (3_200_000_000, "3.2 GB")])
def test_size_text(size, text):
    assert diskspace.size_text(size) == text


def test_free_bytes_is_a_path_api():
    assert isinstance(diskspace.free_bytes(Path("/")), int)
