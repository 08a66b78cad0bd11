"""Common Voice release names: the one parser the importer and the release watcher share.

A full release is ``cv-corpus-<version>-<date>-<lang>.tar.gz`` (extracted: ``cv-corpus-<version>-<date>/
<lang>/``); since 10.0 a *delta* ``cv-corpus-<version>-delta-<date>-<lang>.tar.gz`` holds only the
clips added since the previous release (datasets.md 3.1). A delta is recognised, so that it is never
mistaken for a full release, and never imported on its own: merging it into the release before it
is not supported yet, so the newest *full* release present is the one used.

Pure Python, no third-party import: the Airflow side (the release watcher) imports it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

_NAME = re.compile(
    r"^(?P<stem>cv-corpus-(?P<version>\d+(?:\.\d+)*)(?P<delta>-delta)?-(?P<date>\d{4}-\d{2}-\d{2}))"
    r"(?:-(?P<lang>[A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*)\.tar\.gz)?$"
)


@dataclass(frozen=True)
class CvRelease:
    """A Common Voice release (tarball or extracted folder) found in ``sources/``."""

    path: Path
    #: ``cv-corpus-<version>[-delta]-<date>``: the top folder inside the tarball
    stem: str
    version: Tuple[int, ...]
    date: str
    delta: bool
    #: the locale of a tarball; None for an extracted folder (it may hold several)
    language: Optional[str]

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def order(self) -> Tuple[Tuple[int, ...], str]:
        """Newer releases sort later: by version, then date."""
        return self.version, self.date


def parse_release(path: Path) -> Optional[CvRelease]:
    """The release ``path`` names (tarball or extracted folder), or None when it is no release name."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    return CvRelease(
        path=path,
        stem=match.group("stem"),
        version=tuple(int(part) for part in match.group("version").split(".")),
        date=match.group("date"),
        delta=bool(match.group("delta")),
        language=match.group("lang"),
    )


def releases_in(sources: Path, language: str, folders: bool = True) -> List[CvRelease]:
    """Every release of ``language`` in ``sources`` (deltas included), oldest first.

    A tarball counts when its locale is ``language``; with ``folders``, an extracted folder counts
    when it holds a ``<language>/`` folder.
    """
    found: List[CvRelease] = []
    if not sources.is_dir():
        return found
    for path in sources.iterdir():
        release = parse_release(path)
        if release is None:
            continue
        if release.language is not None:
            if release.language == language and path.is_file():
                found.append(release)
        elif folders and path.is_dir() and (path / language).is_dir():
            found.append(release)
    return sorted(found, key=lambda r: (r.order, r.filename))


def newest_full_release(sources: Path, language: str, folders: bool = True) -> Optional[CvRelease]:
    """The newest full (not delta) release of ``language`` in ``sources``; None when there is none."""
    full = [release for release in releases_in(sources, language, folders) if not release.delta]
    return full[-1] if full else None


def ignored_deltas(sources: Path, language: str, folders: bool = True) -> List[CvRelease]:
    """The deltas of ``language`` in ``sources`` newer than the newest full release (they are not used)."""
    newest = newest_full_release(sources, language, folders)
    return [
        release
        for release in releases_in(sources, language, folders)
        if release.delta and (newest is None or release.order > newest.order)
    ]


def delta_message(delta: CvRelease, language: str) -> str:
    """Why a delta is not imported, and what to place instead (one line, names the file)."""
    return (
        "{} is a Common Voice delta release (only the clips added since the release before it); "
        "importing deltas is not supported yet: place the full release cv-corpus-{}-{}-{}.tar.gz from the "
        "Common Voice site beside it.".format(
            delta.path, ".".join(str(n) for n in delta.version), delta.date, language
        )
    )
