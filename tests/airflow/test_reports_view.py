"""The reports view served to the Airflow UI: lists and serves reports, nothing else.

The traversal attempts go over a raw socket to the app served by uvicorn (the server Airflow's API
server runs): an HTTP client, the test client included, normalises ``../`` away before sending, so
a traversal sent through one never reaches the app.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import uvicorn
from fastapi.testclient import TestClient

from stt_pipeline.reports_view import create_app

SECRET = b"sources: not for the UI"
OUTSIDE = b"outside the data root"


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with a report, a model card, a private file, and a file beside the data root."""
    root = tmp_path / "data"
    for name in ("reports", "models", "sources"):
        (root / name).mkdir(parents=True)
    (root / "reports" / "run.html").write_text("<h1>WER 12%</h1>")
    (root / "models" / "model_card.md").write_text("# Model card")
    (root / "sources" / "secret.md").write_bytes(SECRET)
    (tmp_path / "outside.md").write_bytes(OUTSIDE)
    # a link planted in reports/: served only if the view followed it out of reports/
    (root / "reports" / "linked.md").symlink_to(root / "sources" / "secret.md")
    monkeypatch.setenv("STT_AIRFLOW_DATA_DIR", str(root))
    return root


@pytest.fixture
def served(data_root: Path) -> Iterator[Tuple[str, int]]:
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


def raw_get(address: Tuple[str, int], target: str) -> Tuple[int, bytes]:
    """(status, whole response) of ``GET target`` sent byte for byte, with no client normalising it."""
    with socket.create_connection(address, timeout=30) as connection:
        connection.sendall("GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".format(target).encode())
        response = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            response += chunk
    status_line = response.split(b"\r\n", 1)[0].split()
    return int(status_line[1]), response


def test_lists_and_serves_reports(data_root):
    client = TestClient(create_app())
    index = client.get("/")
    assert index.status_code == 200 and "reports/run.html" in index.text and "models/model_card.md" in index.text
    assert client.get("/files/reports/run.html").text == "<h1>WER 12%</h1>"
    assert client.get("/files/models/model_card.md").text == "# Model card"
    assert client.get("/files/sources/secret.md").status_code == 404
    assert client.get("/files/reports/missing.html").status_code == 404


def test_raw_dot_dot_reaches_the_app_and_is_resolved(served):
    # the control: were ``..`` dropped or refused before the app, the traversals below would prove nothing
    status, response = raw_get(served, "/files/reports/../models/model_card.md")
    assert status == 200 and response.endswith(b"# Model card")


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
        "/files/reports/linked.md",
        "/files/reports/%00.md",  # a NUL byte: refused, not a server error
    ],
)
def test_traversal_is_refused(served, target):
    status, response = raw_get(served, target)
    assert status == 404, response[:300]
    assert SECRET not in response and OUTSIDE not in response


def test_absolute_path_is_refused(served, data_root):
    outside = data_root.parent / "outside.md"
    status, response = raw_get(served, "/files/" + str(outside))
    assert status == 404 and OUTSIDE not in response


def test_empty_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STT_AIRFLOW_DATA_DIR", str(tmp_path))
    assert "No report yet" in TestClient(create_app()).get("/").text
