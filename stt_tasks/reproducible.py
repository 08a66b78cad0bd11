"""Release archives that are the same bytes for the same content: model zips and ``.tar.xz`` packages.

zipfile and tarfile record each member's modification time, permissions and owner, which differ
between two runs that write the same files, so the checksums on the model card would change with every
export. Members are written here with one fixed time, fixed permissions and no owner, in the order
given, streamed (a scorer can be gigabytes).
"""

from __future__ import annotations

import io
import shutil
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Optional, Sequence, Tuple

from stt_tasks.fsio import atomic_path

#: The modification time of every archive member: 1980-01-01 00:00:00 UTC, the earliest a zip can hold.
MEMBER_MTIME = 315532800
MEMBER_MODE = 0o644
#: A file and its name in the archive.
Member = Tuple[Path, str]


def write_zip(target: Path, members: Sequence[Member]) -> None:
    """A deflated zip of ``members`` at its root, written atomically; equal content gives equal bytes."""
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in members:
            info = zipfile.ZipInfo(name, date_time=time.gmtime(MEMBER_MTIME)[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that external_attr holds the permissions
            info.external_attr = (0o100000 | MEMBER_MODE) << 16
            info.file_size = path.stat().st_size  # decides ZIP64 up front, as the size is not known when streaming
            with open(path, "rb") as source, archive.open(info, "w") as member:
                shutil.copyfileobj(source, member, 1 << 20)


def tar_member(name: str, size: int) -> tarfile.TarInfo:
    """A regular file's header with the fixed time, permissions and no owner."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = MEMBER_MTIME
    info.mode = MEMBER_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tar_xz(target: Path, members: Sequence[Tuple[Path, str, Optional[bytes]]]) -> None:
    """A ``.tar.xz`` of (file, name in archive, replacement bytes or None) in the order given, atomically."""
    with atomic_path(target) as tmp, tarfile.open(tmp, "w:xz", format=tarfile.PAX_FORMAT) as archive:
        for path, name, payload in members:
            if payload is not None:
                archive.addfile(tar_member(name, len(payload)), io.BytesIO(payload))
                continue
            with open(path, "rb") as source:
                archive.addfile(tar_member(name, path.stat().st_size), source)
