"""The release watcher: metadata over HTTP (a local server), checksum, threshold, state."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import threading
from functools import partial

import pytest

from stt_pipeline.release_watcher import ReleaseCheckError, decide, fetch_metadata, newest_release


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


def test_metadata_over_http(sources, metadata_server):
    url, _ = metadata_server
    metadata = fetch_metadata(url, newest_release(sources, "fr"), "fr")
    assert metadata.valid_hours == 1100.5 and len(metadata.sha256) == 64
    assert fetch_metadata("http://127.0.0.1:9/none", newest_release(sources, "fr"), "fr") is None  # refused: no metadata


def test_schedules_a_verified_new_release(sources, metadata_server):
    url, _ = metadata_server
    release = newest_release(sources, "fr")
    decision = decide(release, fetch_metadata(url, release, "fr"), None, {"release": "cv-corpus-20.0-2024-12-06-fr.tar.gz",
                                                                          "valid_hours": 1000.0}, 10.0)
    assert decision.schedule and decision.event["valid_hours"] == 1100.5 and decision.event["sha256"]


def test_declines_a_small_update(sources, metadata_server):
    url, _ = metadata_server
    release = newest_release(sources, "fr")
    decision = decide(release, fetch_metadata(url, release, "fr"), None, {"valid_hours": 1095.0}, 10.0)
    assert not decision.schedule and "5.5 validated hours" in decision.reason


def test_refuses_a_corrupt_download(sources, metadata_server):
    url, site = metadata_server
    release = newest_release(sources, "fr")
    stats = json.loads((site / "cv-corpus-21.0-2025-03-14.json").read_text())
    stats["locales"]["fr"]["checksum"] = "0" * 64
    (site / "cv-corpus-21.0-2025-03-14.json").write_text(json.dumps(stats))
    with pytest.raises(ReleaseCheckError, match="download the release again"):
        decide(release, fetch_metadata(url, release, "fr"), None, {}, 10.0)


def test_same_release_is_not_scheduled_twice(sources):
    release = newest_release(sources, "fr")
    assert not decide(release, None, None, {"release": release.filename}, 10.0).schedule
    assert not decide(release, None, None, {"declined": release.filename}, 10.0).schedule
    assert decide(release, None, None, {}, 10.0).schedule  # no metadata: a new file is reason enough


def test_watcher_dag_emits_the_asset_and_records_state(airflow_db, sources, metadata_server, tmp_path):
    url, _ = metadata_server
    env = {"STT_AIRFLOW_DATA_DIR": str(sources.parent), "STT_RELEASE_METADATA_URL": url}
    import os

    run_env = dict(os.environ, **env)
    subprocess.run(["airflow", "variables", "delete", "stt_fr_last_release"], env=run_env, capture_output=True)
    first = subprocess.run(["airflow", "dags", "test", "stt_fr_release_watcher"], env=run_env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    state = subprocess.run(["airflow", "variables", "get", "stt_fr_last_release"], env=run_env, capture_output=True, text=True)
    recorded = json.loads(state.stdout.strip().splitlines()[-1])
    assert recorded["release"] == "cv-corpus-21.0-2025-03-14-fr.tar.gz" and recorded["valid_hours"] == 1100.5
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == "stt://fr/common-voice/release")
            .all()
        )
        assert [e.extra["release"] for e in events] == ["cv-corpus-21.0-2025-03-14-fr.tar.gz"]
    # a second check finds nothing new: skipped, no second event
    second = subprocess.run(["airflow", "dags", "test", "stt_fr_release_watcher"], env=run_env, capture_output=True, text=True)
    assert second.returncode == 0 and "already considered" in second.stdout + second.stderr
    with create_session() as session:
        assert session.query(AssetEvent).count() == 1
