"""Common Voice release names: the one parser the importer and the release watcher share.

A full release is ``cv-corpus-<version>-<date>-<lang>.tar.gz`` (extracted: ``cv-corpus-<version>-<date>/
<lang>/``); since 10.0 a *delta* ``cv-corpus-<version>-delta-<date>-<lang>.tar.gz`` holds only the
clips added since the previous release (datasets.md 3.1). A delta is never imported on its own: a
*release chain* is the newest full release present plus every later delta, one per release, which
together make the newest release (:func:`release_chain`). A gap in the chain (full N, then the delta
of N+2) is a :class:`BrokenChainError` naming the missing delta.

Which release a delta builds on: the one with the major version before it (the 16.1 delta, like
16.1 itself, replaces 16.0 and builds on 15.0; so among deltas of one major version the newest counts).

Pure Python, no third-party import: the Airflow side (the release watcher) imports it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

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


def version_text(version: Tuple[int, ...]) -> str:
    return ".".join(str(n) for n in version)


def delta_message(delta: CvRelease, language: str) -> str:
    """Why a delta alone cannot be imported, and what to place beside it (one line, names the file)."""
    return (
        "{} is a Common Voice delta release (only the clips added since the release before it) and no full "
        "release precedes it: place the full release cv-corpus-{}-{}-{}.tar.gz (or an earlier full release and "
        "every delta after it) from the Common Voice site beside it.".format(
            delta.path, version_text(delta.version), delta.date, language
        )
    )


class BrokenChainError(ValueError):
    """A delta present does not follow the release before it: one release's delta is missing."""


@dataclass(frozen=True)
class ReleaseChain:
    """A full release and the deltas after it, oldest first: together, release :attr:`newest`."""

    base: CvRelease
    deltas: Tuple[CvRelease, ...] = ()

    @property
    def links(self) -> Tuple[CvRelease, ...]:
        return (self.base,) + self.deltas

    @property
    def newest(self) -> CvRelease:
        return self.links[-1]

    @property
    def version(self) -> Tuple[int, ...]:
        return self.newest.version

    def names(self) -> List[str]:
        """The file (or folder) names of the links, oldest first."""
        return [link.filename for link in self.links]


def _newest_per_major(deltas: List[CvRelease]) -> List[CvRelease]:
    """One delta per major version, the newest (16.1's delta replaces 16.0's), oldest major first."""
    newest: Dict[int, CvRelease] = {}
    for delta in deltas:  # oldest first: a later one of the same major wins
        newest[delta.version[0]] = delta
    return [newest[major] for major in sorted(newest)]


def release_chain(
    sources: Path, language: str, folders: bool = True, until: Optional[CvRelease] = None
) -> Optional[ReleaseChain]:
    """The newest full release of ``language`` and the deltas after it (up to ``until``, a delta or full
    release); None when there is no full release. Raises BrokenChainError naming the missing delta.
    """
    present = releases_in(sources, language, folders)
    if until is not None:
        present = [r for r in present if r.order <= until.order]
    full = [r for r in present if not r.delta]
    if not full:
        return None
    base = full[-1]
    deltas = _newest_per_major([r for r in present if r.delta and r.order > base.order])
    previous = base
    for delta in deltas:
        expected = previous.version[0] + 1
        if delta.version[0] != expected:
            raise BrokenChainError(
                "{}: the Common Voice delta of release {} is missing between {} and it "
                "(cv-corpus-{}.0-delta-<date>-{}.tar.gz); place it in {}, or the full release {}.".format(
                    delta.path, expected, previous.filename, expected, language, sources,
                    "cv-corpus-{}-{}-{}.tar.gz".format(version_text(delta.version), delta.date, language),
                )
            )
        previous = delta
    return ReleaseChain(base, tuple(deltas))
