"""Reading corpus archives safely: checksums while streaming, extraction that cannot escape.

A tar member with an absolute path, a ``..`` component, a device or FIFO, or a link pointing outside
the target directory is refused with an error naming the member: a corpus archive never needs one,
and extracting it could overwrite files anywhere the container can write.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import atomic_directory
from stt_tasks.progress import Progress


class HashingReader:
    """A read-only file wrapper that hashes every byte read through it."""

    def __init__(self, raw: BinaryIO, progress: Optional[Progress] = None) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.bytes_read = 0
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.digest.update(chunk)
        self.bytes_read += len(chunk)
        if self.progress is not None:
            self.progress.advance(len(chunk) >> 20)
        return chunk

    def drain(self) -> None:
        """Read to the end so the digest covers the whole file (tar padding included)."""
        while self.read(1 << 20):
            pass

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _unsafe_reason(member: tarfile.TarInfo) -> Optional[str]:
    name = member.name
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if name.startswith("/") or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in parts:
        return "'..' in its path"
    if member.isdev() or member.isfifo():
        return "a device or FIFO"
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname("/".join(parts)), member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            return "a symbolic link pointing outside the archive ({})".format(member.linkname)
    if member.islnk():
        target = posixpath.normpath(member.linkname)
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            return "a hard link pointing outside the archive ({})".format(member.linkname)
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "an unsupported member type"
    return None


def extract_tar_verified(archive: Path, destination: Path, expected_sha256: Optional[str]) -> str:
    """Extract ``archive`` into ``destination`` atomically while hashing it; return the SHA-256.

    The checksum is computed in the same pass as the extraction (a 25 GB release is read once).
    On a mismatch with ``expected_sha256`` nothing is left behind and BadInputError is raised.
    """
    size_mb = max(1, archive.stat().st_size >> 20)
    progress = Progress("extract {}".format(archive.name), size_mb, unit="MB", interval=10.0)
    with atomic_directory(destination) as scratch, open(archive, "rb") as raw:
        reader = HashingReader(raw, progress)
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
                for member in tar:
                    reason = _unsafe_reason(member)
                    if reason:
                        raise BadInputError(
                            "{}: member {!r} is {}; refusing to extract this archive. "
                            "Download the release again from its official source.".format(
                                archive, member.name, reason
                            )
                        )
                    tar.extract(member, str(scratch), set_attrs=False)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            # An OSError with an errno is the machine's problem (disk full...), not the archive's.
            if isinstance(error, OSError) and error.errno is not None:
                raise
            raise BadInputError(
                "{}: not a readable tar archive ({}). The file is probably truncated: "
                "download it again.".format(archive, error)
            ) from None
        reader.drain()
        digest = reader.hexdigest()
        if expected_sha256 and digest != expected_sha256.lower():
            raise BadInputError(
                "{}: SHA-256 is {} but {} was expected. The download is corrupt or is another "
                "release: download it again (nothing was extracted).".format(archive, digest, expected_sha256)
            )
        _make_readable(scratch)
    progress.finish()
    return digest


def _make_readable(root: Path) -> None:
    """Some releases ship read-only folders; the importer and a later cleanup need to write."""
    for directory, _dirs, _files in os.walk(root):
        os.chmod(directory, 0o755)
