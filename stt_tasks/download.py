"""The one downloader of the pipeline (corpus archives and LM texts): resumable, verified, atomic.

Corpus archives and LM texts are gigabytes on links that drop. Bytes go to ``<name>.part`` beside
the final file; a re-run asks the server for the rest (HTTP ``Range``) instead of starting over. The
checksum (where one is published) covers the whole file, resumed prefix included, and the file
appears under its final name only once complete and verified. A mirror (``--mirror`` or
``$STT_CORPUS_MIRROR``) serving the same file names replaces every upstream URL: that is how an
offline site, or a test, serves them.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Tuple

from stt_tasks.errors import BadInputError, StepError
from stt_tasks.progress import LOG, Progress

CHUNK = 1 << 20
TIMEOUT_SECONDS = 60
MIRROR_ENV = "STT_CORPUS_MIRROR"
#: (algorithm, hex digest), e.g. ("sha1", "863d...")
Checksum = Tuple[str, str]


class DownloadError(StepError):
    """The server could not be reached or answered with an error; retrying later may work."""


class NotOnServerError(DownloadError):
    """The server answered 404: the file is not there."""


class NothingLeftError(DownloadError):
    """The server answered 416 to a resumed download: the partial file already holds every byte."""


def _open(url: str, offset: int, method: str = "GET") -> "urllib.response.addinfourl":  # type: ignore[name-defined]
    headers = {"User-Agent": "stt-fr-pipeline"}
    if offset:
        headers["Range"] = "bytes={}-".format(offset)
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise NotOnServerError("{}: not found on the server (HTTP 404).".format(url)) from None
        if error.code == 416 and offset:
            raise NothingLeftError("{}: nothing after byte {} (HTTP 416).".format(url, offset)) from None
        raise DownloadError("{}: the server answered HTTP {} ({}). Retry later.".format(url, error.code, error.reason)) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(
            "cannot reach {} ({}). Is this machine offline? Retry when the network is back, or place the "
            "file in sources/ by hand and run without --download.".format(url, reason)
        ) from None


def mirror_url(mirror: Optional[str] = None) -> Optional[str]:
    """The mirror's base URL (ending with ``/``): ``mirror``, else ``$STT_CORPUS_MIRROR``, else None."""
    value = mirror or os.environ.get(MIRROR_ENV)
    return value.rstrip("/") + "/" if value else None


def source_url(url: str, name: str, mirror: Optional[str] = None) -> str:
    """Where to fetch the file ``name``: from the mirror when one is set, else its upstream ``url``."""
    base = mirror_url(mirror)
    return base + name if base else url


def attachment_name(url: str) -> Optional[str]:
    """The file name a server announces for ``url`` (Content-Disposition), if any."""
    with _open(url, 0, "HEAD") as response:
        match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', response.headers.get("Content-Disposition") or "")
    return os.path.basename(match.group(1)) if match else None


def fetch(url: str, target: Path, checksum: Optional[Checksum] = None) -> Path:
    """Download ``url`` to ``target`` unless it is already there; resume a partial download.

    Raises DownloadError (network), NotOnServerError (404) or BadInputError (checksum mismatch,
    after deleting the bad bytes so that the next run starts clean).
    """
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.is_file() else 0
    digest = hashlib.new(checksum[0]) if checksum else None
    if offset and digest is not None:
        with open(partial, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
    LOG.info("downloading %s%s", url, " (resuming at {} bytes)".format(offset) if offset else "")
    try:
        response = _open(url, offset)
    except NothingLeftError:  # killed between the last byte and the rename
        response = None
    if response is not None:
        with response:
            if offset and response.status != 206:  # the server ignored Range: start over
                LOG.info("%s does not resume downloads; starting again", url)
                offset = 0
                digest = hashlib.new(checksum[0]) if checksum else None
            total = response.headers.get("Content-Length")
            progress = Progress("download {}".format(target.name), int(total) if total else None, "MB", 10.0, 10**6)
            received = 0
            with open(partial, "ab" if offset else "wb") as out:
                try:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        received += len(chunk)
                        if digest is not None:
                            digest.update(chunk)
                        progress.advance(len(chunk))
                except (OSError, http.client.HTTPException) as error:
                    raise DownloadError(
                        "{}: the connection dropped after {} bytes ({}). Run again to resume.".format(
                            url, offset + received, error
                        )
                    ) from None
            # A server closing early does not always raise: an incomplete body is a dropped connection.
            if total is not None and received != int(total):
                raise DownloadError(
                    "{}: the connection dropped after {} of {} bytes. Run again to resume.".format(
                        url, offset + received, offset + int(total)
                    )
                )
            progress.finish()
    if checksum and digest is not None and digest.hexdigest() != checksum[1].lower():
        partial.unlink()
        raise BadInputError(
            "{}: {} is {} but {} is published for {}. The download was corrupt and has been deleted: "
            "run again to download it afresh.".format(url, checksum[0].upper(), digest.hexdigest(), checksum[1], target.name)
        )
    os.replace(partial, target)
    LOG.info("downloaded %s (%d bytes)", target, target.stat().st_size)
    return target
