"""The release watcher: metadata over HTTP (a local server), size and checksum, threshold, and its state
across watcher and training runs (a release counts as trained only once a training run succeeded)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import threading
from functools import partial

import pytest

from stt_pipeline.release_watcher import (
    MAX_ATTEMPTS,
    ReleaseCheckError,
    decide,
    fetch_metadata,
    newest_release,
    trained_state,
    with_delta_hours,
)


@pytest.fixture
def sources(tmp_path):
    folder = tmp_path / "data" / "sources"
    folder.mkdir(parents=True)
    for name in ("cv-corpus-20.0-2024-12-06-fr.tar.gz", "cv-corpus-21.0-2025-03-14-fr.tar.gz",
                 "cv-corpus-22.0-2025-06-20-de.tar.gz", "cv-corpus-21.0-delta-2025-03-14-fr.tar.gz"):
        (folder / name).write_bytes(name.encode() * 100)
    return folder


@pytest.fixture
def metadata_server(tmp_path, sources):
    """cv-dataset-style statistics served on 127.0.0.1 (never any other address)."""
    site = tmp_path / "site"
    site.mkdir()
    newest = sources / "cv-corpus-21.0-2025-03-14-fr.tar.gz"
    stats = {"locales": {"fr": {"checksum": hashlib.sha256(newest.read_bytes()).hexdigest(), "validHrs": 1100.5,
                                "size": newest.stat().st_size}}}
    (site / "cv-corpus-21.0-2025-03-14.json").write_text(json.dumps(stats))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:{}".format(server.server_address[1]), site
    server.shutdown()
    server.server_close()


def test_newest_full_release_of_the_language(sources):
    release = newest_release(sources, "fr")
    assert release.filename == "cv-corpus-21.0-2025-03-14-fr.tar.gz" and release.stem == "cv-corpus-21.0-2025-03-14"
    assert newest_release(sources, "it") is None


def _delta_tarball(path, clips):
    """A delta tarball holding only a validated.tsv of ``clips`` rows (what the watcher reads)."""
    import io
    import tarfile

    body = ("client_id\tpath\tsentence\n" + "".join("s\tc{}.mp3\tbonjour\n".format(i) for i in range(clips))).encode()
    with tarfile.open(str(path), "w:gz") as tar:
        member = tarfile.TarInfo(path.name[: -len("-fr.tar.gz")] + "/fr/validated.tsv")
        member.size = len(body)
        tar.addfile(member, io.BytesIO(body))
    return path


def test_a_new_delta_completes_the_chain_and_is_scheduled(sources):
    """The import builds 22.0 from the full 21.0 and the 22.0 delta: the delta is the new release."""
    delta = _delta_tarball(sources / "cv-corpus-22.0-delta-2025-06-20-fr.tar.gz", 7200)
    release = newest_release(sources, "fr")
    assert release.filename == delta.name and release.delta and release.version == (22, 0)
    assert release.chain == ("cv-corpus-21.0-2025-03-14-fr.tar.gz", delta.name) and release.broken is None
    trained = {"release": "cv-corpus-21.0-2025-03-14-fr.tar.gz", "valid_hours": 1000.0}
    counted = with_delta_hours(release, lambda path: None)  # no statistics: counted from validated.tsv
    assert counted.delta_hours == ((delta.name, 10.0),)
    decision = decide(counted, None, None, {"trained": trained}, 5.0)
    assert decision.schedule and decision.event["added_hours"] == 10.0 and decision.event["valid_hours"] == 1010.0
    assert decision.event["chain"] == list(release.chain)
    small = with_delta_hours(release, lambda path: 1.09)  # the published hours win
    declined = decide(small, None, None, {"trained": trained}, 5.0)
    assert not declined.schedule and "adds 1.1 validated hours" in declined.reason


def test_a_broken_chain_schedules_nothing_and_names_the_missing_delta(sources):
    (sources / "cv-corpus-23.0-delta-2025-09-05-fr.tar.gz").write_bytes(b"delta")
    release = newest_release(sources, "fr")
    assert release.broken and "delta of release 22 is missing" in release.broken
    decision = decide(release, None, None, {}, 0.0)
    assert not decision.schedule and decision.reason == release.broken and decision.state is None
    _delta_tarball(sources / "cv-corpus-22.0-delta-2025-06-20-fr.tar.gz", 10)  # the gap filled
    complete = newest_release(sources, "fr")
    assert complete.broken is None and len(complete.chain) == 3 and decide(complete, None, None, {}, 0.0).schedule


def test_a_delta_whose_statistics_repeat_the_full_checksum_is_not_refused(sources, metadata_server):
    """cv-dataset publishes most deltas with the full release's checksum: that is no delta's own."""
    url, site = metadata_server
    delta = _delta_tarball(sources / "cv-corpus-22.0-delta-2025-06-20-fr.tar.gz", 10)
    full_stats = {"locales": {"fr": {"checksum": "ab" * 32, "validHrs": 1110.0, "size": 1}}}
    (site / "cv-corpus-22.0-2025-06-20.json").write_text(json.dumps(full_stats))
    delta_stats = {"locales": {"fr": {"checksum": "ab" * 32, "validHrs": 9.5, "size": delta.stat().st_size}}}
    (site / "cv-corpus-22.0-delta-2025-06-20.json").write_text(json.dumps(delta_stats))
    release = newest_release(sources, "fr")
    metadata = fetch_metadata(url, release, "fr")
    assert metadata.sha256 is None and metadata.valid_hours == 9.5
    assert decide(release, metadata, None, {}, 0.0).schedule
    delta_stats["locales"]["fr"]["checksum"] = "cd" * 32  # a checksum of its own is checked
    (site / "cv-corpus-22.0-delta-2025-06-20.json").write_text(json.dumps(delta_stats))
    with pytest.raises(ReleaseCheckError):
        decide(release, fetch_metadata(url, release, "fr"), None, {}, 0.0)


def test_a_delta_alone_is_nothing_to_schedule_and_is_named(tmp_path, caplog):
    delta = tmp_path / "cv-corpus-22.0-delta-2025-06-20-fr.tar.gz"
    delta.write_bytes(b"delta")
    with caplog.at_level("WARNING"):
        assert newest_release(tmp_path, "fr") is None
    assert str(delta) in caplog.text and "place the full release cv-corpus-22.0-2025-06-20-fr.tar.gz" in caplog.text
    assert not decide(None, None, None, {}, 0.0).schedule


def test_metadata_over_http(sources, metadata_server):
    url, _ = metadata_server
    metadata = fetch_metadata(url, newest_release(sources, "fr"), "fr")
    assert metadata.valid_hours == 1100.5 and len(metadata.sha256) == 64
    assert fetch_metadata("http://127.0.0.1:9/none", newest_release(sources, "fr"), "fr") is None  # refused: no metadata


def test_schedules_a_verified_new_release(sources, metadata_server):
    url, _ = metadata_server
    release = newest_release(sources, "fr")
    trained = {"release": "cv-corpus-20.0-2024-12-06-fr.tar.gz", "size": 3500, "valid_hours": 1000.0}
    decision = decide(release, fetch_metadata(url, release, "fr"), None, {"trained": trained}, 10.0)
    assert decision.schedule and decision.event["valid_hours"] == 1100.5 and decision.event["sha256"]
    # scheduled, not trained: the training DAG records that once it succeeds
    assert decision.state == {"trained": trained, "scheduled": dict(decision.event, attempts=1)}


def test_declines_a_small_update(sources, metadata_server):
    url, _ = metadata_server
    release = newest_release(sources, "fr")
    decision = decide(release, fetch_metadata(url, release, "fr"), None, {"trained": {"valid_hours": 1095.0}}, 10.0)
    assert not decision.schedule and "5.5 validated hours" in decision.reason
    assert decision.state["declined"]["release"] == release.filename
    assert not decide(release, None, None, decision.state, 10.0).schedule


def test_refuses_a_corrupt_download(sources, metadata_server):
    url, site = metadata_server
    release = newest_release(sources, "fr")
    stats = json.loads((site / "cv-corpus-21.0-2025-03-14.json").read_text())
    stats["locales"]["fr"]["checksum"] = "0" * 64
    (site / "cv-corpus-21.0-2025-03-14.json").write_text(json.dumps(stats))
    with pytest.raises(ReleaseCheckError, match="download the release again"):
        decide(release, fetch_metadata(url, release, "fr"), None, {}, 10.0)


def test_refuses_a_release_whose_size_differs_from_the_published_one(sources, metadata_server):
    url, site = metadata_server
    release = newest_release(sources, "fr")
    stats = json.loads((site / "cv-corpus-21.0-2025-03-14.json").read_text())
    stats["locales"]["fr"]["size"] = release.size + 1  # e.g. an interrupted download
    (site / "cv-corpus-21.0-2025-03-14.json").write_text(json.dumps(stats))
    with pytest.raises(ReleaseCheckError, match="bytes, but the published release has"):
        decide(release, fetch_metadata(url, release, "fr"), None, {}, 10.0)


def test_a_trained_release_is_not_scheduled_again_unless_its_file_changed(sources):
    release = newest_release(sources, "fr")
    trained = {"trained": {"release": release.filename, "size": release.size}}
    assert "last successful training" in decide(release, None, None, trained, 10.0).reason
    replaced = {"trained": {"release": release.filename, "size": release.size - 1}}
    assert decide(release, None, None, replaced, 10.0).schedule  # same name, other bytes: look again
    assert decide(release, None, None, {}, 10.0).schedule  # no metadata: a new file is reason enough


def test_a_scheduled_release_waits_for_its_training_and_is_retried_after_a_failure(sources):
    release = newest_release(sources, "fr")
    first = decide(release, None, None, {}, 10.0)
    assert first.schedule and first.state["scheduled"]["attempts"] == 1
    waiting = decide(release, None, None, first.state, 10.0, training_active=True)
    assert not waiting.schedule and "queued or running" in waiting.reason and waiting.state is None
    # the run ended without recording the release: it failed, so the release is scheduled again
    again = decide(release, None, None, first.state, 10.0, training_active=False)
    assert again.schedule and "attempt 2 of {}".format(MAX_ATTEMPTS) in again.reason
    state = again.state
    for _ in range(MAX_ATTEMPTS - 2):
        state = decide(release, None, None, state, 10.0).state
    given_up = decide(release, None, None, state, 10.0)
    assert not given_up.schedule and "did not succeed in {} attempts".format(MAX_ATTEMPTS) in given_up.reason


def test_trained_state_records_the_imported_release():
    scheduled = {"release": "cv-corpus-21.0-2025-03-14-fr.tar.gz", "size": 7, "valid_hours": 1100.5, "attempts": 2}
    # as the importer reports it: what identifies the release under "release"
    imported = {"corpus": "cv-fr", "clips": {"train": 3},
                "release": {"release": scheduled["release"], "size": 7, "sha256": "ab", "sha256_known": True}}
    state = trained_state({"scheduled": scheduled, "declined": {"release": "x"}}, imported)
    assert state == {"declined": {"release": "x"},
                     "trained": {"release": scheduled["release"], "size": 7, "sha256": "ab", "valid_hours": 1100.5}}
    chained = dict(imported, release=dict(imported["release"], chain=[{"release": "full"}, {"release": "delta"}]))
    assert trained_state({}, chained)["trained"]["chain"] == ["full", "delta"]
    from_event = trained_state({}, imported, [{"release": scheduled["release"], "valid_hours": 1200.0}])
    assert from_event["trained"]["valid_hours"] == 1200.0
    assert trained_state({"scheduled": scheduled}, None) is None  # Common Voice not in this run
    # a manual run on another release leaves the scheduled one waiting
    older = dict(imported, release={"release": "cv-corpus-20.0-2024-12-06-fr.tar.gz", "size": 5})
    other = trained_state({"scheduled": scheduled}, older)
    assert other["scheduled"] == scheduled and other["trained"]["release"] == "cv-corpus-20.0-2024-12-06-fr.tar.gz"


def _airflow(*args: str, env) -> subprocess.CompletedProcess:
    completed = subprocess.run(["airflow"] + list(args), env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def _release_events():
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == "stt://fr/common-voice/release")
            .order_by(AssetEvent.id)
            .all()
        )
        return [e.extra["release"] for e in events]


def test_watcher_and_training_dag_share_the_release_state(airflow_db, sources, metadata_server):
    """Scheduled, retried while no training succeeded, waiting while one runs, done once one succeeded."""
    url, _ = metadata_server
    env = dict(os.environ, STT_AIRFLOW_DATA_DIR=str(sources.parent), STT_RELEASE_METADATA_URL=url)
    newest = "cv-corpus-21.0-2025-03-14-fr.tar.gz"
    from airflow.models.variable import Variable  # the metadata database, read here directly

    Variable.delete("stt_fr_last_release")
    before = len(_release_events())

    def watch() -> str:
        completed = _airflow("dags", "test", "stt_fr_release_watcher", env=env)
        return completed.stdout + completed.stderr

    def state():
        return json.loads(Variable.get("stt_fr_last_release"))

    watch()
    recorded = state()
    assert recorded["scheduled"]["release"] == newest and recorded["scheduled"]["valid_hours"] == 1100.5
    assert "trained" not in recorded  # scheduling is not training
    assert _release_events()[before:] == [newest]
    # no training run succeeded (none ran): the next check schedules the release again
    assert "attempt 2 of" in watch() and _release_events()[before:] == [newest, newest]

    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run_id = "manual__watcher-test-{}".format(os.getpid())
    _airflow("dags", "trigger", "stt_fr_training", "-r", run_id, env=env)  # queued: a training is on its way
    try:
        assert "queued or running" in watch() and len(_release_events()[before:]) == 2
        # that run succeeds: its last task records the release its Common Voice import used
        with create_session() as session:
            imported = {"corpus": "cv-fr", "release": {"release": newest, "size": (sources / newest).stat().st_size}}
            XComModel.set(key="return_value", value=imported,
                          dag_id="stt_fr_training", task_id="importers.common_voice", run_id=run_id,
                          serialize=False, session=session)
        _airflow("tasks", "test", "stt_fr_training", "record_release", run_id, env=env)
        recorded = state()
        assert recorded["trained"] == {"release": newest, "size": (sources / newest).stat().st_size, "valid_hours": 1100.5,
                                       "run_id": run_id}
        assert "scheduled" not in recorded
        assert "last successful training" in watch() and len(_release_events()[before:]) == 2
    finally:
        with create_session() as session:
            session.query(DagRun).filter(DagRun.run_id == run_id).update({"state": "failed"})
