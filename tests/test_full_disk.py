"""A really full file system as data root: one line, exit 75, nothing partial, and the same bytes after.

The data root is a small tmpfs (needs root, to mount it). The sample corpus's import needs about
13 MB (archive 2.3, extracted release 2.6, WAVs 7.9): the disk fills while converting clips, or,
with a filler file, while extracting the release. Freeing space (a bigger remount, deleting the
filler) and running the step again gives the files of an import that never failed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Dict, Iterator

import pytest

from stt_tasks.errors import EXIT_OK, EXIT_TEMPFAIL

MB = 1 << 20


def _can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount") is not None


pytestmark = pytest.mark.skipif(not _can_mount(), reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 9 MB tmpfs, unmounted at the end (``mount -o remount,size=`` grows it)."""
    mount_point = tmp_path / "disk-{}".format(uuid.uuid4().hex[:8])
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=9m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + done.stderr.strip())
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def _place_sources(root: Path, sample_release: Dict) -> None:
    (root / "sources").mkdir(parents=True)
    archive = Path(sample_release["archive"])
    shutil.copyfile(str(archive), str(root / "sources" / archive.name))


def _artifacts(root: Path) -> Dict[str, bytes]:
    """Every file a step produced under extracted/, except the hidden private ones (markers, the ledger),
    which record absolute paths and times."""
    files = {}
    for path in sorted((root / "extracted").rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[str(relative)] = path.read_bytes()
    return files


def _leftovers(root: Path) -> list:
    return [str(p) for p in root.rglob("*") if ".tmp-" in p.name]


@pytest.fixture(scope="module")
def never_failed(tmp_path_factory, sample_release) -> Dict[str, bytes]:
    """The files of the sample corpus's import on a disk with room."""
    from tests.conftest import run_step
    root = tmp_path_factory.mktemp("roomy")
    _place_sources(root, sample_release)
    done = run_step("import", "common-voice", "--data-root", str(root))
    assert done.returncode == EXIT_OK, done.stderr
    return _artifacts(root)


def _assert_one_line_disk_full(done, root: Path) -> str:
    assert done.returncode == EXIT_TEMPFAIL, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr
    assert "no space left" in errors[0] and str(root) in errors[0] and "free now" in errors[0]
    assert done.stdout == ""  # no result line: Airflow must not read one
    return errors[0]


def test_a_full_disk_while_converting_clips(small_disk, sample_release, never_failed, step):
    _place_sources(small_disk, sample_release)
    done = step("import", "common-voice", "--data-root", str(small_disk))
    message = _assert_one_line_disk_full(done, small_disk)
    # The import's own estimate: its WAVs (7.9 MB for the whole corpus; counted from the clips written).
    assert re.search(r"the import of cv-fr \(1\d\d clips to convert\) needed about", message)
    needed_mb = float(message.split("needed about ")[1].split(" MB")[0])
    assert 6.0 < needed_mb < 10.0
    assert _leftovers(small_disk) == []
    assert not list((small_disk / "extracted" / "data").rglob("*.csv"))

    subprocess.run(["mount", "-o", "remount,size=24m", "tmpfs", str(small_disk)], check=True)
    again = step("import", "common-voice", "--data-root", str(small_disk))
    assert again.returncode == EXIT_OK, again.stderr
    assert _artifacts(small_disk) == never_failed


def test_a_full_disk_while_extracting_the_release(small_disk, sample_release, never_failed, step):
    _place_sources(small_disk, sample_release)
    filler = small_disk / "filler"
    free = shutil.disk_usage(str(small_disk)).free
    with open(str(filler), "wb") as handle:
        handle.write(b"\0" * (free - MB))  # 1 MB left: the 2.6 MB release cannot be extracted
    done = step("import", "common-voice", "--data-root", str(small_disk))
    message = _assert_one_line_disk_full(done, small_disk)
    # No estimate of its own: bounded by what was free when the step started.
    assert re.search(r"the step needed more than the 1\.\d MB free when it started", message)
    assert _leftovers(small_disk) == []
    assert not (small_disk / "extracted" / "data").exists() or not list((small_disk / "extracted").rglob("*.csv"))

    filler.unlink()
    subprocess.run(["mount", "-o", "remount,size=24m", "tmpfs", str(small_disk)], check=True)
    again = step("import", "common-voice", "--data-root", str(small_disk))
    assert again.returncode == EXIT_OK, again.stderr
    assert _artifacts(small_disk) == never_failed
