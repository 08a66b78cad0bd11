"""Reading corpus archives safely: checksums while streaming, extraction that cannot escape.

A tar or zip member with an absolute path, a ``..`` component, a device or FIFO, or a link that could lead
outside the target directory is refused with an error naming the member: a corpus archive never needs one,
and extracting it could overwrite files anywhere the container can write.

Checking each link on its own path is not enough: ``d/l1 -> ..`` then ``d/l1/l2 -> ..`` each look
inside, yet ``l2/x`` then lands beside the target. So a tar link may only point down from its own
folder (relative, no ``..``), and no member may be written, or hard-linked to, through a symbolic
link already extracted: every path then resolves inside the target. Zip links are refused outright.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, atomic_directory, atomic_output
from stt_tasks.progress import LOG, Progress


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


def _path_parts(name: str) -> List[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _through_extracted_link(name: str, scratch: Path) -> Optional[str]:
    """The first prefix of ``name`` (itself included) that is a symbolic link already extracted in ``scratch``."""
    # Split as the OS does (on "/" only): that is the path tarfile will write to.
    parts = [p for p in name.split("/") if p not in ("", ".")]
    for depth in range(1, len(parts) + 1):
        if os.path.islink(os.path.join(str(scratch), *parts[:depth])):
            return "/".join(parts[:depth])
    return None


def _unsafe_link_target(linkname: str) -> bool:
    """A link target that could resolve outside its folder: absolute, or climbing with ``..``."""
    return linkname.startswith(("/", "\\")) or (len(linkname) > 1 and linkname[1] == ":") or ".." in _path_parts(linkname)


def _unsafe_reason(member: tarfile.TarInfo, scratch: Path) -> Optional[str]:
    """Why extracting ``member`` into ``scratch`` (holding the members before it) is unsafe, or None."""
    name = member.name
    if name.startswith("/") or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in _path_parts(name):
        return "'..' in its path"
    if member.isdev() or member.isfifo():
        return "a device or FIFO"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "an unsupported member type"
    if member.issym() and _unsafe_link_target(member.linkname):
        return "a symbolic link pointing outside its folder ({})".format(member.linkname)
    if member.islnk() and _unsafe_link_target(member.linkname):
        return "a hard link pointing outside the archive ({})".format(member.linkname)
    link = _through_extracted_link(name, scratch)
    if link is not None:
        return "a path through the symbolic link {!r} extracted before it".format(link)
    if member.islnk():
        link = _through_extracted_link(member.linkname, scratch)
        if link is not None:
            return "a hard link through the symbolic link {!r} extracted before it".format(link)
    return None


def extract_tar_verified(archive: Path, destination: Path, expected_sha256: Optional[str]) -> str:
    """Extract ``archive`` into ``destination`` atomically while hashing it; return the SHA-256.

    The checksum is computed in the same pass as the extraction (a 25 GB release is read once).
    On a mismatch with ``expected_sha256`` nothing is left behind and BadInputError is raised.
    """
    with atomic_directory(destination) as scratch:
        digest = _extract_tar_into(archive, scratch, expected_sha256)
        _make_readable(scratch)
    return digest


def _extract_tar_into(archive: Path, scratch: Path, expected_sha256: Optional[str] = None) -> str:
    """Stream a tar (any compression) into ``scratch``, refusing unsafe members; return its SHA-256."""
    size_mb = max(1, archive.stat().st_size >> 20)
    progress = Progress("extract {}".format(archive.name), size_mb, unit="MB", interval=10.0)
    with open(archive, "rb") as raw:
        reader = HashingReader(raw, progress)
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
                for member in tar:
                    reason = _unsafe_reason(member, scratch)
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
    progress.finish()
    return digest


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: zips made without the UTF-8 flag hold UTF-8 bytes read as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _unsafe_zip_reason(name: str, info: zipfile.ZipInfo) -> Optional[str]:
    parts = _path_parts(name)
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in parts:
        return "'..' in its path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def extract_zip_into(archive: Path, scratch: Path) -> int:
    """Extract a zip (zip64 included) into ``scratch``, refusing unsafe members; return the member count.

    CRC-32 of every member is checked while reading, so a truncated or corrupt download fails here.
    """
    size_mb = max(1, archive.stat().st_size >> 20)
    progress = Progress("extract {}".format(archive.name), size_mb, unit="MB", interval=10.0)
    count = 0
    try:
        with zipfile.ZipFile(str(archive)) as bundle:
            for info in bundle.infolist():
                name = _zip_member_name(info)
                reason = _unsafe_zip_reason(name, info)
                if reason:
                    raise BadInputError(
                        "{}: member {!r} is {}; refusing to extract this archive. Download it again from "
                        "its official source.".format(archive, name, reason)
                    )
                target = scratch.joinpath(*[p for p in name.replace("\\", "/").split("/") if p not in ("", ".")])
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as member, open(target, "wb") as out:
                    shutil.copyfileobj(member, out, 1 << 20)
                count += 1
                progress.advance(info.compress_size >> 20)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as error:
        raise BadInputError(
            "{}: not a readable zip archive ({}). The file is probably truncated or corrupt: "
            "download it again.".format(archive, error)
        ) from None
    progress.finish()
    return count


def join_parts(parts: Sequence[Path], target: Path) -> Dict[str, str]:
    """Concatenate a split raw zip (``.zip.001``, ``.002``...) into ``target``; return each part's SHA-1.

    Streamed, so memory stays flat; SHA-1 because that is what the upstream publishes for CCPMF.
    """
    digests: Dict[str, str] = {}
    with atomic_output(target, "wb") as out:
        for part in parts:
            digest = hashlib.sha1()
            with open(part, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
            digests[part.name] = digest.hexdigest()
    return digests


def extract_into(archive: Path, scratch: Path) -> None:
    """Extract a tar (any compression) or zip archive into ``scratch``, by its name."""
    if archive.name.lower().endswith(".zip"):
        extract_zip_into(archive, scratch)
    else:
        _extract_tar_into(archive, scratch)


def archive_identity(archives: Sequence[Path]) -> List[Dict[str, Any]]:
    """What identifies archives cheaply (name, size, mtime): a changed one is extracted again."""
    identity = []
    for archive in archives:
        stat_result = archive.stat()
        identity.append({"archive": archive.name, "size": stat_result.st_size, "mtime_ns": stat_result.st_mtime_ns})
    return identity


def unpack_once(
    archives: Sequence[Path], target: Path, unpack: Optional[Callable[[Path], None]] = None
) -> Path:
    """Extract ``archives`` into ``target`` unless already done from the same archives; return ``target``.

    ``unpack(scratch)`` replaces the default (each archive extracted by :func:`extract_into`). The
    work happens in a scratch folder renamed into place, and a marker beside ``target`` records
    which archives it came from, so a killed extraction restarts and a finished one is reused.
    """
    identity = archive_identity(archives)
    marker = CompletionMarker(target.parent, ".{}.extracted.json".format(target.name))
    recorded = marker.read()
    if recorded and recorded.get("inputs") == identity and target.is_dir():
        LOG.info("%s already extracted in %s", ", ".join(a.name for a in archives), target)
        return target
    LOG.info("extracting %s into %s", ", ".join(a.name for a in archives), target)
    with atomic_directory(target) as scratch:
        if unpack is None:
            for archive in archives:
                extract_into(archive, scratch)
        else:
            unpack(scratch)
        _make_readable(scratch)
    marker.write(identity, [], {})
    return target


def _make_readable(root: Path) -> None:
    """Some releases ship read-only folders; the importer and a later cleanup need to write."""
    for directory, _dirs, _files in os.walk(root):
        os.chmod(directory, 0o755)
