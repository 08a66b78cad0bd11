"""Detecting a new Common Voice release worth retraining on.

A release is a ``cv-corpus-<version>-<date>-<lang>.tar.gz`` placed in ``sources/`` (the download
is gated, so a person puts it there). Optionally the public cv-dataset statistics (one JSON file
per release, ``cv-corpus-<version>-<date>.json``, with per-locale ``checksum`` and ``validHrs``)
give its SHA-256 and validated hours: the checksum is then verified before anything is scheduled,
and a release adding fewer validated hours than a threshold is not worth a retraining.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from stt_tasks.fsio import sha256_file

_RELEASE = re.compile(r"^(cv-corpus-(\d+)\.(\d+)-(\d{4}-\d{2}-\d{2}))-(?P<lang>[\w-]+)\.tar\.gz$")


@dataclass(frozen=True)
class Release:
    path: Path
    stem: str  # cv-corpus-<version>-<date>
    version: Tuple[int, int]
    size: int

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class ReleaseMetadata:
    sha256: Optional[str]
    valid_hours: Optional[float]
    size: Optional[int]


@dataclass(frozen=True)
class Decision:
    schedule: bool
    reason: str
    event: Dict[str, Any]


class ReleaseCheckError(Exception):
    """The release present is not the one published (checksum mismatch): never train on it."""


def newest_release(sources: Path, language: str) -> Optional[Release]:
    """The newest full (not delta) release tarball of ``language`` in ``sources``."""
    found = []
    if sources.is_dir():
        for path in sources.iterdir():
            match = _RELEASE.match(path.name)
            if match and match.group("lang") == language and path.is_file():
                found.append(Release(path, match.group(1), (int(match.group(2)), int(match.group(3))), path.stat().st_size))
    return max(found, key=lambda r: r.version) if found else None


def fetch_metadata(location: str, release: Release, language: str, timeout: float = 30.0) -> Optional[ReleaseMetadata]:
    """Statistics of ``release`` from a cv-dataset folder (URL or local path); None if unavailable."""
    if not location:
        return None
    address = location.rstrip("/") + "/" + release.stem + ".json"
    try:
        if re.match(r"^https?://", address):
            with urllib.request.urlopen(address, timeout=timeout) as response:  # noqa: S310 (configured URL)
                document = json.loads(response.read().decode("utf-8"))
        else:
            document = json.loads(Path(address).read_text(encoding="utf-8"))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    locale = (document.get("locales") or {}).get(language)
    if not isinstance(locale, dict):
        return None
    hours = locale.get("validHrs")
    return ReleaseMetadata(
        sha256=(locale.get("checksum") or None),
        valid_hours=float(hours) if hours is not None else None,
        size=locale.get("size"),
    )


def decide(
    release: Optional[Release],
    metadata: Optional[ReleaseMetadata],
    known_sha256: Optional[str],
    last: Dict[str, Any],
    min_new_hours: float,
) -> Decision:
    """Whether ``release`` should schedule a training run, given the last scheduled one."""
    if release is None:
        return Decision(False, "no release in sources/", {})
    if release.filename in (last.get("release"), last.get("declined")):
        return Decision(False, "{} was already considered".format(release.filename), {})
    expected = (metadata.sha256 if metadata else None) or known_sha256
    event: Dict[str, Any] = {"release": release.filename, "size": release.size}
    if expected:
        actual = sha256_file(release.path)
        if actual != expected:
            raise ReleaseCheckError(
                "{}: SHA-256 {} differs from the published {}; download the release again.".format(
                    release.path, actual, expected
                )
            )
        event["sha256"] = actual
    hours = metadata.valid_hours if metadata else None
    if hours is not None:
        event["valid_hours"] = hours
        previous = last.get("valid_hours")
        if previous is not None and hours - float(previous) < min_new_hours:
            return Decision(
                False,
                "{} adds {:.1f} validated hours (< {:.1f}): not worth retraining".format(
                    release.filename, hours - float(previous), min_new_hours
                ),
                event,
            )
    return Decision(True, "new release {}".format(release.filename), event)
