"""The machine's failures a step can meet, as one line naming the file and the fix (no traceback).

Steps raise ``OSError`` as the standard library does; the CLI passes it here at its edge
(``stt_tasks.cli.main``), so no step needs its own handler. A full disk becomes
:class:`DiskFullError` (exit 75, retried after the task's delay); permission denied, a read-only
file system and a missing tool become :class:`SetupError` (exit 78, not retried: someone must fix
the machine); other errors about a named file become a plain failure (exit 1, retried). Anything
else is not expected and keeps its traceback.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Optional

from stt_tasks.diskspace import free_bytes, is_disk_full, size_text, space_needed
from stt_tasks.errors import DiskFullError, SetupError, StepError

#: The user the step containers run as (plugins/stt_pipeline/step_operator.py: CONTAINER_USER).
STEP_USER = "999:999"


def explain_os_error(error: OSError, data_root: Path, free_at_start: Optional[int]) -> Optional[StepError]:
    """The one-line error for ``error``, or None when it is not one we can explain.

    ``free_at_start`` (bytes free on the data root when the step started) bounds what a step that
    filled the disk needed, when the step gave no estimate of its own.
    """
    if is_disk_full(error):
        return disk_full(error, data_root, free_at_start)
    path = _filename(error)
    if path is None:
        return None
    if isinstance(error, PermissionError):
        return SetupError(
            "permission denied: {} ({}). The steps run as uid {} in their containers: make the data root theirs "
            "(chown -R {} {}) or fix that file's mode.".format(path, error.strerror, STEP_USER.split(":")[0],
                                                               STEP_USER, data_root))
    if error.errno == errno.EROFS:
        return SetupError("{} is on a read-only file system: mount the data root {} read-write.".format(path, data_root))
    if isinstance(error, FileNotFoundError) and _is_command(path):
        return SetupError("the tool {!r} is not installed (not on PATH): run the step in the stt-tasks image, "
                          "or install {} on this machine.".format(path, path))
    return StepError("{}: {}. Check that file (or the disk under it) and re-run the step.".format(
        path, error.strerror or error))


def disk_full(error: OSError, data_root: Path, free_at_start: Optional[int]) -> DiskFullError:
    """What filled up, how much the step needed (its estimate, else more than what was free), what is free."""
    path = _filename(error)
    where = Path(path) if path and Path(path).is_absolute() else data_root
    free_now = free_bytes(where)
    estimate = space_needed(error)
    if estimate is not None:
        needed = "{} needed about {}".format(estimate.what, size_text(estimate.needed))
    elif free_at_start is not None:
        needed = "the step needed more than the {} free when it started".format(size_text(free_at_start))
    else:
        needed = "the step needed more space"
    if path and not _is_under(where, data_root):
        location = "{} (outside the data root {})".format(path, data_root)
    else:
        location = "the data root {}{}".format(data_root, " (writing {})".format(path) if path else "")
    return DiskFullError(
        "no space left on the file system of {}: {}; {} free now. Free space there (or grow it): "
        "the task is retried after its delay.".format(location, needed, size_text(free_now)))


def _filename(error: OSError) -> Optional[str]:
    return str(error.filename) if error.filename not in (None, "") else None


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _is_command(name: str) -> bool:
    """A bare program name that PATH does not have (what subprocess reports when a tool is missing)."""
    return "/" not in name and not Path(name).exists() and shutil.which(name) is None
