"""Disk space: what a step expects to write, so that a full file system is explained, not a traceback.

Any write of any step can meet ENOSPC; the CLI turns it into one line at its edge
(:func:`stt_tasks.failures.explain_os_error`). A step that knows how much it writes wraps that
writing in :func:`writing`, which attaches its estimate to the error on the way out, so that the
line can say how much the step needed rather than only what was free.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

#: ENOSPC, and EDQUOT (a quota is a full disk for this user).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_ATTRIBUTE = "stt_space_needed"


@dataclass(frozen=True)
class SpaceNeeded:
    """A step's estimate of what it writes: ``what`` in words, ``needed`` in bytes."""

    what: str
    needed: int


def is_disk_full(error: BaseException) -> bool:
    """True for the errors a full file system (or an exhausted quota) raises."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def free_bytes(path: Path) -> Optional[int]:
    """Bytes free for this user on the file system holding ``path`` (or its nearest existing folder)."""
    for candidate in [path, *path.parents]:
        try:
            return shutil.disk_usage(str(candidate)).free
        except OSError:
            continue
    return None


@contextlib.contextmanager
def writing(what: str, estimate: Callable[[], int]) -> Iterator[None]:
    """Around a step's writing: a full disk inside leaves with ``estimate()`` (bytes) and ``what`` attached.

    ``estimate`` is called only then, so it may use what the step counted so far.
    """
    try:
        yield
    except OSError as error:
        if is_disk_full(error) and space_needed(error) is None:
            setattr(error, _ATTRIBUTE, SpaceNeeded(what, int(estimate())))
        raise


def space_needed(error: BaseException) -> Optional[SpaceNeeded]:
    """The estimate :func:`writing` attached to ``error``, if any."""
    return getattr(error, _ATTRIBUTE, None)


def size_text(size: Optional[int]) -> str:
    """Bytes for a person: "512 kB", "3.2 GB" (decimal units, as ``df -H``)."""
    if size is None:
        return "an unknown amount"
    for unit, scale in (("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3)):
        if size >= scale:
            return "{:.1f} {}".format(size / scale, unit)
    return "{} B".format(size)
