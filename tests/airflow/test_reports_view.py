"""The reports view served to the Airflow UI: behind Airflow's login, lists the runs, serves reports only.

Authentication is Airflow's own: the simple auth manager of this test's AIRFLOW_HOME signs real JWTs,
and the view accepts them as the UI sends them (the ``_token`` session cookie) or as the REST API does
(a bearer token). The traversal attempts go over a raw socket to the app served by uvicorn (the server
Airflow's API server runs): an HTTP client, the test client included, normalises ``../`` away before
sending, so a traversal sent through one never reaches the app.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest
import uvicorn

# one signing secret for the auth manager and the tokens below (set before the auth manager reads it)
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "stt-reports-view-test-secret-" + "0123456789abcdef" * 3)

from fastapi.testclient import TestClient  # noqa: E402

from stt_pipeline.reports_view import create_app, run_reports, served_media_type  # noqa: E402

SECRET = b"sources: not for the UI"
OUTSIDE = b"outside the data root"
TRANSCRIPTS = b'{"src": "a test transcript"}'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture(scope="module")
def token(airflow_db) -> str:
    """A JWT of the admin user, signed by the auth manager the view validates it with."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


def write_run(root: Path, run_id: str, finished: Optional[str], release: Optional[str],
              test_wer: Optional[float], report: bool = True) -> None:
    """A run folder as the report step writes it: ``reports/runs/<run id>/{report.html,summary.json}``."""
    folder = root / "reports" / "runs" / run_id
    folder.mkdir(parents=True)
    if report:
        (folder / "report.html").write_text("<h1>{}</h1>".format(run_id))
    (folder / "summary.json").write_text(json.dumps(
        {"run_id": run_id, "finished": finished, "release": release, "test_wer": test_wer}))


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with runs, a report and its image, model cards, private files and a file beside it."""
    root = tmp_path / "data"
    for name in ("reports", "models", "sources"):
        (root / name).mkdir(parents=True)
    (root / "reports" / "run.html").write_text("<h1>WER 12%</h1>")
    (root / "reports" / "plot.png").write_bytes(PNG)
    (root / "reports" / "leakage.json").write_text("{}")
    (root / "models" / "model_card.md").write_text("# Model card")
    (root / "models" / "test_samples.json").write_bytes(TRANSCRIPTS)
    (root / "models" / "alphabet.txt").write_text("a\n")
    (root / "model_card_fr.md").write_text("# Carte du modèle")
    (root / "sources" / "secret.md").write_bytes(SECRET)
    (tmp_path / "outside.md").write_bytes(OUTSIDE)
    # a link planted in reports/: served only if the view followed it out of reports/
    (root / "reports" / "linked.md").symlink_to(root / "sources" / "secret.md")
    (root / "reports" / "linked.html").symlink_to(root / "sources" / "secret.md")
    write_run(root, "manual__2026-01-02", "2026-01-02T10:00:00+00:00", "cv-corpus-20.0-2024-12-06", 0.254)
    write_run(root, "asset_triggered__2026-03-04", "2026-03-04T08:30:00Z", "cv-corpus-21.0-2025-03-14", 0.187)
    write_run(root, "manual__2026-02-01", "2026-02-01T12:00:00", None, None, report=False)
    monkeypatch.setenv("STT_AIRFLOW_DATA_DIR", str(root))
    return root


@pytest.fixture
def client(data_root: Path, token: str) -> TestClient:
    """A logged-in browser: the UI's session cookie."""
    return TestClient(create_app(), cookies={"_token": token})


@pytest.fixture
def served(data_root: Path, token: str) -> Iterator[Tuple[str, int]]:
    """The reports app served by uvicorn on a free local port: (host, port)."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield listening.getsockname()
    server.should_exit = True
    thread.join(timeout=10)
    listening.close()


def raw_get(address: Tuple[str, int], target: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    """(status, whole response) of ``GET target`` sent byte for byte, with no client normalising it."""
    lines = ["GET {} HTTP/1.1".format(target), "Host: localhost", "Connection: close"]
    lines += ["{}: {}".format(k, v) for k, v in (headers or {}).items()]
    with socket.create_connection(address, timeout=30) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            response += chunk
    status_line = response.split(b"\r\n", 1)[0].split()
    return int(status_line[1]), response


def test_lists_runs_newest_first_with_release_date_and_wer(client):
    index = client.get("/")
    assert index.status_code == 200
    text = index.text
    newest, middle, oldest = (text.index(r) for r in
                              ("asset_triggered__2026-03-04", "manual__2026-02-01", "manual__2026-01-02"))
    assert newest < middle < oldest, text
    assert "cv-corpus-21.0-2025-03-14" in text and "2026-03-04 08:30" in text and "18.7 %" in text
    assert 'href="files/reports/runs/manual__2026-01-02/report.html"' in text and "25.4 %" in text
    assert "manual__2026-02-01 (no report yet)" in text
    # the other reports and the model cards, but nothing the view would refuse to serve
    for listed in ("reports/run.html", "models/model_card.md", "model_card_fr.md"):
        assert 'href="files/{}"'.format(listed) in text, listed
    assert "linked" not in text and "test_samples" not in text and "leakage" not in text


def test_serves_reports_images_and_model_cards_only(client):
    assert client.get("/files/reports/run.html").text == "<h1>WER 12%</h1>"
    image = client.get("/files/reports/plot.png")
    assert image.content == PNG and image.headers["content-type"] == "image/png"
    assert client.get("/files/reports/runs/manual__2026-01-02/report.html").text == "<h1>manual__2026-01-02</h1>"
    assert client.get("/files/models/model_card.md").text == "# Model card"
    assert client.get("/files/model_card_fr.md").text == "# Carte du modèle"
    # test transcripts, the alphabet, the leakage data, a run's summary, sources: not a report's
    for refused in ("models/test_samples.json", "models/alphabet.txt", "reports/leakage.json",
                    "reports/runs/manual__2026-01-02/summary.json", "sources/secret.md", "reports/missing.html"):
        assert client.get("/files/" + refused).status_code == 404, refused


def test_allow_list():
    from pathlib import PurePosixPath as P

    assert served_media_type(P("reports/runs/r/report.html")) == "text/html; charset=utf-8"
    assert served_media_type(P("reports/runs/r/wer.svg")) == "image/svg+xml"
    assert served_media_type(P("models/model_card.md")) is not None
    assert served_media_type(P("models/sub/model_card.md")) is None
    assert served_media_type(P("models/test_samples.json")) is None
    assert served_media_type(P("reports")) is None
    assert served_media_type(P("notes.md")) is None


def test_run_without_summary_is_listed_by_its_folder(tmp_path):
    (tmp_path / "reports" / "runs" / "manual__broken").mkdir(parents=True)
    (tmp_path / "reports" / "runs" / "manual__broken" / "summary.json").write_text("{not json")
    runs = run_reports(tmp_path)
    assert [(r.run_id, r.finished, r.test_wer, r.report) for r in runs] == [("manual__broken", None, None, None)]


def test_anonymous_api_caller_gets_401(data_root):
    client = TestClient(create_app())
    for path in ("/", "/files/reports/run.html", "/files/reports/plot.png", "/files/reports/missing.html"):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 401 and "WER" not in response.text, path


def test_anonymous_browser_is_sent_to_the_login_page(data_root, airflow_db):
    client = TestClient(create_app(), follow_redirects=False)
    response = client.get("/files/reports/run.html", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 303 and "WER" not in response.text
    assert response.headers["location"].startswith("/auth/login?next=")
    assert "reports%2Frun.html" in response.headers["location"]


def test_forged_or_foreign_token_is_refused(data_root, token):
    header, payload, signature = token.split(".")
    forged = ".".join([header, payload, signature[::-1]])
    for credentials in ({"cookies": {"_token": forged}}, {"headers": {"Authorization": "Bearer " + forged}}):
        response = TestClient(create_app(), **credentials).get("/", headers={"Accept": "application/json"})
        assert response.status_code in (401, 403) and "Training runs" not in response.text


def test_bearer_token_is_accepted(data_root, token):
    response = TestClient(create_app()).get("/", headers={"Authorization": "Bearer " + token})
    assert response.status_code == 200 and "Training runs" in response.text


def test_raw_dot_dot_reaches_the_app_and_is_refused(served, token):
    cookie = {"Cookie": "_token=" + token}
    assert raw_get(served, "/files/models/model_card.md", cookie)[0] == 200
    # the control: were ``..`` resolved before the app, this would be the model card, served (200)
    status, response = raw_get(served, "/files/reports/../models/model_card.md", cookie)
    assert status == 404 and b"# Model card" not in response and b"no such report" in response


@pytest.mark.parametrize(
    "target",
    [
        "/files/reports/../sources/secret.md",
        "/files/models/../sources/secret.md",
        "/files/reports/%2e%2e/sources/secret.md",
        "/files/reports/%2e%2e%2fsources%2fsecret.md",
        "/files/reports/..%2fsources/secret.md",
        "/files/reports/%2E%2E%2Fsources%2Fsecret.md",
        "/files/reports/../../outside.md",
        "/files/reports/..%2f..%2foutside.md",
        "/files/reports/%252e%252e/sources/secret.md",  # encoded twice: a name with a % in it, not found
        "/files/reports/.%2e/models/model_card.md",
        "/files/reports/linked.md",
        "/files/reports/linked.html",
        "/files/reports/%00.html",  # a NUL byte: refused, not a server error
        "/files/reports\\..\\sources\\secret.md",
    ],
)
def test_traversal_is_refused(served, token, target):
    status, response = raw_get(served, target, {"Cookie": "_token=" + token})
    assert status == 404, response[:300]
    assert SECRET not in response and OUTSIDE not in response and b"# Model card" not in response


def test_absolute_path_is_refused(served, data_root, token):
    outside = data_root.parent / "outside.md"
    for target in ("/files/" + str(outside), "/files//" + str(data_root / "models" / "model_card.md")):
        status, response = raw_get(served, target, {"Cookie": "_token=" + token})
        assert status == 404 and OUTSIDE not in response and b"# Model card" not in response


def test_empty_data_root(tmp_path, monkeypatch, token):
    monkeypatch.setenv("STT_AIRFLOW_DATA_DIR", str(tmp_path))
    assert "No report yet" in TestClient(create_app(), cookies={"_token": token}).get("/").text
