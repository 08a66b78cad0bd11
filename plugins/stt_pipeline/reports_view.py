"""The run reports and model cards, reachable from the Airflow web UI.

A small FastAPI app (mounted by the plugin under ``/stt-reports``) lists the HTML reports under
``reports/`` and the model cards under ``models/`` of the data root, and serves them read-only.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import List

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from stt_pipeline import deployment

SERVED_SUFFIXES = (".html", ".md", ".png", ".svg", ".json", ".txt")


def _data_root() -> Path:
    return Path(deployment.airflow_data_dir())


def listed_files(root: Path) -> List[Path]:
    """Reports and model cards, newest first."""
    files = [p for p in (root / "reports").rglob("*") if p.is_file() and p.suffix in (".html", ".md")]
    files += [p for p in (root / "models").glob("*.md") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def create_app() -> FastAPI:
    app = FastAPI(title="STT reports")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        root = _data_root()
        rows = "".join(
            '<li><a href="files/{0}">{1}</a></li>'.format(
                html.escape(str(p.relative_to(root))), html.escape(str(p.relative_to(root)))
            )
            for p in listed_files(root)
        )
        body = "<ul>{}</ul>".format(rows) if rows else "<p>No report yet: run the training DAG to the end.</p>"
        return "<!doctype html><title>STT reports</title><h1>STT reports and model cards</h1>" + body

    @app.get("/files/{relative:path}")
    def serve(relative: str) -> FileResponse:
        root = _data_root().resolve()
        try:
            path = (root / relative).resolve()
        except (ValueError, OSError):  # an embedded NUL byte, a name too long: no such report
            raise HTTPException(status_code=404) from None
        allowed = (root / "reports", root / "models")
        if path.suffix not in SERVED_SUFFIXES or not any(str(path).startswith(str(a) + "/") for a in allowed):
            raise HTTPException(status_code=404)
        if not path.is_file():
            raise HTTPException(status_code=404)
        media = "text/markdown; charset=utf-8" if path.suffix == ".md" else None
        return FileResponse(str(path), media_type=media)

    return app
