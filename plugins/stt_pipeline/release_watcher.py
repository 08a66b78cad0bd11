"""Detecting a new Common Voice release worth retraining on.

A release is a ``cv-corpus-<version>-<date>-<lang>.tar.gz`` placed in ``sources/`` (the download
is gated, so a person puts it there); names are read by the importer's own parser
(:mod:`stt_tasks.importers.cv_release`), so the watcher schedules training on the release the
import will build: the newest full release and the deltas after it. A new delta is a new release;
a chain with a gap (a delta missing) schedules nothing and says which delta to place. Optionally the
public cv-dataset statistics (one JSON file per release or delta, ``cv-corpus-<version>[-delta]-<date>.json``,
with per-locale ``checksum`` and ``validHrs``) give its SHA-256, size and validated hours: size and
checksum are then verified before anything is scheduled, and a release adding fewer validated hours
than a threshold is not worth a retraining. A delta's hours are those it adds: from its statistics,
else the language pack's, else counted from its ``validated.tsv`` (clips times an average duration).

What was decided is kept in one Airflow Variable per language (``stt_<lang>_last_release``), a JSON
object with up to three entries, each naming a release by file name and size:

- ``trained``: the release of the last training run that succeeded (recorded by the training DAG's
  last task, so that a failed run leaves the release to be scheduled again);
- ``scheduled``: the release the watcher last scheduled, with the number of ``attempts``;
- ``declined``: a release judged not worth retraining.
"""

from __future__ import annotations

import json
import logging
import re
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from airflow.sdk import Asset
from stt_tasks.fsio import sha256_file
from stt_tasks.importers.cv_release import BrokenChainError, delta_message, parse_release, release_chain, releases_in

LOG = logging.getLogger(__name__)

#: Scheduling the same release again after failed training runs stops after this many attempts.
MAX_ATTEMPTS = 3
#: seconds per validated clip when a delta's hours are counted from its validated.tsv (fr: 5.25 s in 25.0)
AVERAGE_CLIP_SECONDS = 5.0


@dataclass(frozen=True)
class Release:
    """The release the import would build: a full release, or the newest delta of a chain."""

    path: Path
    stem: str  # cv-corpus-<version>[-delta]-<date>
    version: Tuple[int, ...]
    size: int
    #: the file names of the chain it ends, oldest first (a full release alone: just itself)
    chain: Tuple[str, ...] = ()
    #: why the chain is broken (a missing delta): nothing is scheduled until it is placed
    broken: Optional[str] = None
    #: (delta file name, validated hours it adds or None), in chain order; see :func:`with_delta_hours`
    delta_hours: Tuple[Tuple[str, Optional[float]], ...] = ()

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def delta(self) -> bool:
        return "-delta-" in self.stem


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
    #: the watcher's state to record (None: unchanged)
    state: Optional[Dict[str, Any]] = None


class ReleaseCheckError(Exception):
    """The release present is not the one published (size or checksum differ): never train on it."""


def release_asset(language: str) -> Asset:
    """The Asset the release watcher updates when a new Common Voice release is ready."""
    return Asset("stt://{}/common-voice/release".format(language))


def state_variable(language: str) -> str:
    """The Airflow Variable holding the watcher's state for ``language``."""
    return "stt_{}_last_release".format(language)


def training_dag_id(language: str) -> str:
    """The id of the training DAG the watcher schedules."""
    return "stt_{}_training".format(language)


def newest_release(sources: Path, language: str) -> Optional[Release]:
    """The release the import would build from the tarballs of ``language`` in ``sources``: the newest
    full one, or the newest delta of the chain after it; with ``broken`` set when a delta is missing."""
    try:
        chain = release_chain(sources, language, folders=False)
    except BrokenChainError as error:
        newest = [r for r in releases_in(sources, language, folders=False) if r.delta][-1]
        return Release(newest.path, newest.stem, newest.version, newest.path.stat().st_size, broken=str(error))
    if chain is None:
        for delta in releases_in(sources, language, folders=False):
            LOG.warning("%s", delta_message(delta, language))
        return None
    newest = chain.newest
    return Release(newest.path, newest.stem, newest.version, newest.path.stat().st_size, tuple(chain.names()))


def counted_hours(delta: Path, seconds_per_clip: float = AVERAGE_CLIP_SECONDS) -> Optional[float]:
    """Validated hours of a delta tarball estimated from its ``validated.tsv`` (None when it has none).

    Read from the stream up to that member: a delta is a few hundred MB, never extracted here.
    """
    try:
        with tarfile.open(str(delta), mode="r|*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith("/validated.tsv"):
                    handle = tar.extractfile(member)
                    lines = [line for line in handle.read().split(b"\n") if line.strip()] if handle else []
                    return round(max(0, len(lines) - 1) * seconds_per_clip / 3600, 3)
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


def with_delta_hours(release: Release, hours_of: Callable[[Path], Optional[float]]) -> Release:
    """``release`` with the hours each delta of its chain adds: ``hours_of(path)`` (statistics or the
    language pack), else counted from the delta's ``validated.tsv``."""
    found = []
    for name in release.chain:
        link = parse_release(release.path.parent / name)
        if link is None or not link.delta:
            continue
        hours = hours_of(link.path)
        found.append((name, hours if hours is not None else counted_hours(link.path)))
    return Release(release.path, release.stem, release.version, release.size, release.chain, release.broken,
                   tuple(found))


def added_hours(release: Release, trained: Dict[str, Any]) -> Optional[float]:
    """Validated hours the deltas after the trained release add (None: unknown, or not a chain from it)."""
    name = trained.get("release")
    if not release.delta or name not in release.chain:
        return None
    after = release.chain[release.chain.index(name) + 1:]
    hours = [h for delta, h in release.delta_hours if delta in after]
    if len(hours) != len(after) or any(h is None for h in hours):
        return None
    return float(sum(h for h in hours if h is not None))


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
    sha256 = locale.get("checksum") or None
    if sha256 and release.delta:
        # The statistics of most deltas repeat the full release's checksum (another file): not a delta's own.
        full_stem = release.stem.replace("-delta-", "-")
        full = fetch_metadata(location, Release(release.path, full_stem, release.version, 0), language, timeout)
        if full is not None and full.sha256 == sha256:
            sha256 = None
    return ReleaseMetadata(
        sha256=sha256,
        valid_hours=float(hours) if hours is not None else None,
        size=locale.get("size"),
    )


def _names(entry: Any, release: Release) -> bool:
    """True when a state entry names ``release`` (same file name, and same size when recorded)."""
    if isinstance(entry, str):  # the state of older versions: a file name only
        return entry == release.filename
    if not isinstance(entry, dict) or entry.get("release") != release.filename:
        return False
    return entry.get("size") in (None, release.size)


def decide(
    release: Optional[Release],
    metadata: Optional[ReleaseMetadata],
    known_sha256: Optional[str],
    state: Dict[str, Any],
    min_new_hours: float,
    training_active: bool = False,
) -> Decision:
    """Whether ``release`` should schedule a training run, given the watcher's ``state``.

    ``training_active``: a training run is queued or running (a scheduled release then waits).
    """
    if release is None:
        return Decision(False, "no release in sources/", {})
    if release.broken:
        return Decision(False, release.broken, {})
    trained = state.get("trained") or {}
    if _names(trained, release):
        return Decision(False, "{} is the release of the last successful training".format(release.filename), {})
    if _names(state.get("declined"), release):
        return Decision(False, "{} was already considered and declined".format(release.filename), {})
    attempts = 0
    if _names(state.get("scheduled"), release):
        if training_active:
            return Decision(False, "training on {} is queued or running".format(release.filename), {})
        attempts = int(state["scheduled"].get("attempts", 1))
        if attempts >= MAX_ATTEMPTS:
            return Decision(
                False,
                "training on {} did not succeed in {} attempts: fix the cause, then trigger the training DAG "
                "by hand".format(release.filename, attempts),
                {},
            )
    if metadata and metadata.size is not None and int(metadata.size) != release.size:
        raise ReleaseCheckError(
            "{}: {} bytes, but the published release has {}; the download is incomplete or another file, "
            "download the release again.".format(release.path, release.size, metadata.size)
        )
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
    if release.chain[1:]:
        event["chain"] = list(release.chain)
    previous = trained.get("valid_hours")
    added: Optional[float] = None
    if release.delta:
        added = added_hours(release, trained)
        if added is not None and previous is not None:
            event["valid_hours"] = round(float(previous) + added, 3)
    else:
        hours = metadata.valid_hours if metadata else None
        if hours is not None:
            event["valid_hours"] = hours
            added = hours - float(previous) if previous is not None else None
    if added is not None:
        event["added_hours"] = round(added, 3)
        if added < min_new_hours:
            return Decision(
                False,
                "{} adds {:.1f} validated hours (< {:.1f}): not worth retraining".format(
                    release.filename, added, min_new_hours
                ),
                event,
                {**state, "declined": event},
            )
    reason = "new release {}".format(release.filename)
    if attempts:
        reason = "{} again (attempt {} of {}): the last training on it did not succeed".format(
            release.filename, attempts + 1, MAX_ATTEMPTS
        )
    return Decision(True, reason, event, {**state, "scheduled": {**event, "attempts": attempts + 1}})


def trained_state(
    state: Dict[str, Any], import_result: Optional[Dict[str, Any]], events: Iterable[Dict[str, Any]] = ()
) -> Optional[Dict[str, Any]]:
    """The watcher's state once a training run on ``import_result``'s release succeeded.

    ``import_result``: the Common Voice import task's result, whose ``release`` entry names the
    release (file name, size, SHA-256); ``events``: the extras of the asset events that triggered
    the run (validated hours). None when the run imported no Common Voice release.
    """
    source = (import_result or {}).get("release")
    name = source.get("release") if isinstance(source, dict) else None
    if not name:
        return None
    trained: Dict[str, Any] = {"release": name}
    for key in ("size", "sha256"):
        if source.get(key) is not None:
            trained[key] = source[key]
    if source.get("chain"):
        trained["chain"] = [link.get("release") for link in source["chain"]]
    scheduled = state.get("scheduled") if isinstance(state.get("scheduled"), dict) else {}
    for extra in list(events) + [scheduled]:
        if extra.get("release") == name and extra.get("valid_hours") is not None:
            trained["valid_hours"] = extra["valid_hours"]
            break
    recorded = {key: value for key, value in state.items() if key != "scheduled"}
    if scheduled and scheduled.get("release") != name:
        recorded["scheduled"] = scheduled  # another release is waiting: keep it
    recorded["trained"] = trained
    return recorded
