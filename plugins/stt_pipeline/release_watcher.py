"""Detecting a new Common Voice release worth retraining on.

A release is a ``cv-corpus-<version>-<date>-<lang>.tar.gz`` placed in ``sources/`` (the download
is gated, so a person puts it there); names are read by the importer's own parser
(:mod:`stt_tasks.importers.cv_release`), so the watcher schedules training on the release the
import will use: the newest full one, never a delta. Optionally the public cv-dataset statistics (one JSON file
per release, ``cv-corpus-<version>-<date>.json``, with per-locale ``checksum`` and ``validHrs``)
give its SHA-256, size and validated hours: size and checksum are then verified before anything is
scheduled, and a release adding fewer validated hours than a threshold is not worth a retraining.

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
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

from airflow.sdk import Asset
from stt_tasks.fsio import sha256_file
from stt_tasks.importers.cv_release import delta_message, ignored_deltas, newest_full_release

LOG = logging.getLogger(__name__)

#: Scheduling the same release again after failed training runs stops after this many attempts.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Release:
    path: Path
    stem: str  # cv-corpus-<version>-<date>
    version: Tuple[int, ...]
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
    """The newest full (not delta) release tarball of ``language`` in ``sources``: the one the import uses.

    Deltas newer than it are logged as left out (importing deltas is not supported yet).
    """
    newest = newest_full_release(sources, language, folders=False)
    for delta in ignored_deltas(sources, language, folders=False):
        LOG.warning("%s", delta_message(delta, language))
    if newest is None:
        return None
    return Release(newest.path, newest.stem, newest.version, newest.path.stat().st_size)


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
    hours = metadata.valid_hours if metadata else None
    if hours is not None:
        event["valid_hours"] = hours
        previous = trained.get("valid_hours")
        if previous is not None and hours - float(previous) < min_new_hours:
            return Decision(
                False,
                "{} adds {:.1f} validated hours (< {:.1f}): not worth retraining".format(
                    release.filename, hours - float(previous), min_new_hours
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
