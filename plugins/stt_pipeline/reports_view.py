"""The run reports and model cards, reachable from the Airflow web UI, behind Airflow's login.

A small FastAPI app (mounted by the plugin under ``/stt-reports``) lists the training runs newest first
(``reports/runs/<run id>/summary.json``: release, date, test WER) with their reports, then the other
reports and the model cards, and serves those files read-only.

Airflow mounts a plugin's app without its own authentication, so every route here depends on the
auth manager's user (``airflow.api_fastapi.core_api.security``): the UI's ``_token`` session cookie or
a REST API bearer token. A browser without a session is sent to Airflow's login page; any other
anonymous caller gets 401. Only the files a report needs are served, from an allow-list of folders and
file kinds: never the transcripts, sources or markers that live beside them.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Mapping, Optional, Tuple

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import requires_authenticated
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from stt_pipeline import deployment

#: The file kinds a report page needs (its page and its images), by suffix, with their media types.
REPORT_KINDS: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
MODEL_CARD_KINDS: Mapping[str, str] = {".md": "text/markdown; charset=utf-8"}
#: Where the report step writes one folder per training run (``report.html`` and ``summary.json``).
RUNS_FOLDER = PurePosixPath("reports/runs")


@dataclass(frozen=True)
class RunReport:
    """One training run as the index lists it: from its ``summary.json``, or its folder alone."""

    run_id: str
    #: when the run finished (None: no summary, or none readable)
    finished: Optional[datetime]
    #: the Common Voice release it trained on (None: not a release-triggered run, or unknown)
    release: Optional[str]
    #: word error rate on the test set, as a fraction (None: not tested)
    test_wer: Optional[float]
    #: the report page, relative to the data root (None: not written yet)
    report: Optional[str]
    #: sort key of runs without a finishing date: the folder's modification time
    modified: float


def _data_root() -> Path:
    return Path(deployment.airflow_data_dir())


def served_media_type(relative: PurePosixPath) -> Optional[str]:
    """The media type of a file the view may serve, None for any other: the allow-list, as data.

    Reports and their images anywhere under ``reports/``; model cards: ``models/*.md`` and the package
    step's ``model_card_<language>.md`` at the data root.
    """
    parts = relative.parts
    suffix = relative.suffix.lower()
    if len(parts) >= 2 and parts[0] == "reports":
        return REPORT_KINDS.get(suffix)
    if (len(parts) == 2 and parts[0] == "models") or (len(parts) == 1 and parts[0].startswith("model_card_")):
        return MODEL_CARD_KINDS.get(suffix)
    return None


def served_file(root: Path, requested: str) -> Optional[Tuple[Path, str]]:
    """(file, media type) for a request's path below ``files/``, None when it is not one to serve.

    Refused: ``..`` or ``.`` segments (raw or decoded), absolute paths, NUL bytes, paths that a
    symbolic link leads elsewhere, kinds and folders outside :func:`served_media_type`.
    """
    if not requested or "\x00" in requested or "\\" in requested or requested.startswith("/"):
        return None
    segments = requested.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return None
    relative = PurePosixPath(*segments)
    media_type = served_media_type(relative)
    if media_type is None:
        return None
    try:
        real_root = root.resolve()
        path = (real_root / relative).resolve()
    except (ValueError, OSError):  # a name too long, a link loop: no such report
        return None
    # the resolved path must be the requested one: a link planted in reports/ leads nowhere
    if path != real_root / relative or not path.is_file():
        return None
    return path, media_type


def _read_summary(path: Path) -> Dict[str, Any]:
    """A run's ``summary.json`` as a dict ({} when absent or unreadable: the run is still listed)."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _finished(value: Any) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_reports(root: Path) -> List[RunReport]:
    """The training runs under ``reports/runs/``, newest first (by ``finished``, else folder time)."""
    folder = root / RUNS_FOLDER
    runs = []
    for run_folder in (p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else ():
        summary = _read_summary(run_folder / "summary.json")
        report = run_folder / "report.html"
        release = summary.get("release")
        runs.append(RunReport(
            run_id=str(summary.get("run_id") or run_folder.name),
            finished=_finished(summary.get("finished")),
            release=str(release) if release else None,
            test_wer=_number(summary.get("test_wer")),
            report=str(RUNS_FOLDER / run_folder.name / "report.html") if report.is_file() else None,
            modified=run_folder.stat().st_mtime,
        ))
    return sorted(runs, key=lambda r: r.finished.timestamp() if r.finished else r.modified, reverse=True)


def other_documents(root: Path) -> List[str]:
    """Reports outside the run folders (``reports/report.html``, ...) and model cards, newest first."""
    found = [p for p in (root / "reports").rglob("*.html")
             if RUNS_FOLDER.parts[1] != p.relative_to(root / "reports").parts[0]] if (root / "reports").is_dir() else []
    found += [p for p in (root / "models").glob("*.md")] if (root / "models").is_dir() else []
    found += list(root.glob("model_card_*.md"))
    served = [p for p in found if served_file(root, p.relative_to(root).as_posix())]
    served.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [p.relative_to(root).as_posix() for p in served]


def _link(relative: str, text: str) -> str:
    return '<a href="files/{}">{}</a>'.format(html.escape(relative, quote=True), html.escape(text))


def _run_row(run: RunReport) -> str:
    cells = [
        _link(run.report, run.run_id) if run.report else html.escape(run.run_id) + " (no report yet)",
        html.escape(run.release or "—"),
        html.escape(run.finished.strftime("%Y-%m-%d %H:%M") if run.finished else "—"),
        "{:.1f} %".format(100 * run.test_wer) if run.test_wer is not None else "—",
    ]
    return "<tr>" + "".join("<td>{}</td>".format(c) for c in cells) + "</tr>"


INDEX_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
               "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}")


def index_page(root: Path) -> str:
    """The index: the runs (newest first, with release, date and test WER), then the other documents."""
    runs = run_reports(root)
    documents = other_documents(root)
    body = ["<h1>STT reports and model cards</h1>"]
    if runs:
        body.append('<h2>Training runs</h2><table id="runs"><tr><th>Run</th><th>Release</th><th>Finished</th>'
                    "<th>Test WER</th></tr>" + "".join(_run_row(r) for r in runs) + "</table>")
    if documents:
        body.append('<h2>Reports and model cards</h2><ul id="documents">'
                    + "".join("<li>{}</li>".format(_link(d, d)) for d in documents) + "</ul>")
    if not runs and not documents:
        body.append("<p>No report yet: run the training DAG to the end.</p>")
    return ('<!doctype html><html lang="en"><meta charset="utf-8"><title>STT reports</title>'
            "<style>{}</style>{}</html>".format(INDEX_STYLE, "".join(body)))


def _wants_a_page(request: Request) -> bool:
    """A browser navigating (not fetching an image or calling an API): it can follow a login redirect."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _login_redirect(request: Request) -> RedirectResponse:
    """To Airflow's login page, back here afterwards (the auth manager says where it is)."""
    login = get_auth_manager().get_url_login(next_url=str(request.url))
    return RedirectResponse(login, status_code=303)


async def _refusal(request: Request, error: StarletteHTTPException) -> Response:
    """Anonymous browsers go to the login page; everyone else gets the status (401 anonymous, 403 bad token)."""
    if error.status_code in (401, 403) and _wants_a_page(request):
        return _login_redirect(request)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)


def create_app() -> FastAPI:
    """The reports app; every route requires an Airflow user (plugin apps get no authentication of their own)."""
    app = FastAPI(title="STT reports", dependencies=[Depends(requires_authenticated())],
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(StarletteHTTPException, _refusal)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return index_page(_data_root())

    @app.get("/files/{requested:path}")
    def serve(requested: str) -> FileResponse:
        found = served_file(_data_root(), requested)
        if found is None:
            raise HTTPException(status_code=404, detail="no such report")
        path, media_type = found
        return FileResponse(str(path), media_type=media_type)

    return app
