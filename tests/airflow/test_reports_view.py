"""The reports view served to the Airflow UI: lists and serves reports, nothing else."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stt_pipeline.reports_view import create_app


def test_lists_and_serves_reports(tmp_path, monkeypatch):
    (tmp_path / "reports").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "reports" / "run.html").write_text("<h1>WER 12%</h1>")
    (tmp_path / "models" / "model_card.md").write_text("# Model card")
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "secret.md").write_text("not for the UI")
    monkeypatch.setenv("STT_AIRFLOW_DATA_DIR", str(tmp_path))
    client = TestClient(create_app())
    index = client.get("/")
    assert index.status_code == 200 and "reports/run.html" in index.text and "models/model_card.md" in index.text
    assert client.get("/files/reports/run.html").text == "<h1>WER 12%</h1>"
    assert client.get("/files/models/model_card.md").text == "# Model card"
    assert client.get("/files/sources/secret.md").status_code == 404
    assert client.get("/files/reports/../sources/secret.md").status_code == 404
    assert client.get("/files/reports/missing.html").status_code == 404


def test_empty_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STT_AIRFLOW_DATA_DIR", str(tmp_path))
    assert "No report yet" in TestClient(create_app()).get("/").text
