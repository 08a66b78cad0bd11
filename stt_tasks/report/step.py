"""The report step: ``reports/runs/<run id>/report.html`` and ``summary.json``, and the latest at
``reports/report.html``.

The run id (and when the run started) come from the operator's run context (``--run-id``, default
``manual``). The page is built from the artifacts the step is given; the same inputs give the same
bytes (seeded intervals, SVG without dates, ``finished`` taken from the artifacts rather than the
clock), and a re-run with nothing changed skips without writing.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, file_fingerprint, sha256_file, write_json_atomic, write_text_atomic
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.report import page, plots
from stt_tasks.report.evidence import ARTIFACT_LABELS, Artifact, Evidence, best_trial, gather
from stt_tasks.report.stats import RateEstimate, estimates_by_set
from stt_tasks.training.capabilities import image_identity

MARKER = ".report.completed.json"
#: Bumped when the page changes for the same inputs (markers of older writers are stale).
WRITER = "report/2"
RUNS = "runs"
MANUAL_RUN = "manual"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+:@-]")


def run_folder_name(run_id: str) -> str:
    """The run's folder under ``reports/runs/``: the run id, with any character a path could misread as ``_``."""
    name = _UNSAFE.sub("_", run_id.strip())
    if name in ("", ".", ".."):
        raise BadInputError("--run-id {!r} cannot name a report folder: pass the Airflow run id.".format(run_id))
    return name


def finished_at(evidence: Evidence) -> Optional[str]:
    """When the newest artifact the report describes was written (UTC, ISO 8601): the run's end as its
    files tell it, the same on every rebuild (the clock would not be)."""
    times = [path.stat().st_mtime for path in evidence.files.values()]
    if not times:
        return None
    return datetime.fromtimestamp(int(max(times)), tz=timezone.utc).isoformat().replace("+00:00", "Z")


def artifacts(evidence: Evidence, fingerprints: Mapping[str, Mapping[str, Any]]) -> List[Artifact]:
    """The run's files in table order: the given artifacts, then the import reports."""
    labels = dict(ARTIFACT_LABELS)
    names = [n for n, _ in ARTIFACT_LABELS if n in evidence.files]
    names += sorted(n for n in evidence.files if n.startswith("corpus_report:"))
    return [Artifact(labels.get(name, "import report of " + name.split(":", 1)[-1]), evidence.files[name],
                     int(fingerprints[name]["size"]), str(fingerprints[name]["sha256"])) for name in names]


def report_inputs(evidence: Evidence, pack: LanguagePack, params: Mapping[str, Any], run_id: str,
                  run_started: Optional[str]) -> Dict[str, Any]:
    """Everything the pages depend on, by content (what the marker compares)."""
    import matplotlib
    import numpy

    csvs = sorted(set(evidence.test_sets) | set(evidence.dev_sets))
    return {
        "run_id": run_id,
        "run_started": run_started,
        "language": pack.code,
        "parameters": dict(params),
        "files": {name: file_fingerprint(path) for name, path in sorted(evidence.files.items())},
        "csvs": [file_fingerprint(Path(csv)) for csv in csvs],
        "reported_in": image_identity(),
        "libraries": {"matplotlib": matplotlib.__version__, "numpy": numpy.__version__},
        "writer": WRITER,
    }


def _estimates(sets: Mapping[str, Any]) -> Dict[str, RateEstimate]:
    return estimates_by_set(sets) if sets else {}


def run_summary(model: page.ReportModel) -> Dict[str, Any]:
    """``summary.json``: what the reports view lists (run id, finished, release, test WER) and a little more."""
    summary = model.evidence.summary
    overall = model.test_estimates.get("overall")
    releases = model.evidence.releases()
    first = next(iter(releases.values()), None)
    return {
        "run_id": model.run_id,
        "started": model.started,
        "finished": model.finished,
        "release": first["release"] if first else None,
        "releases": {corpus: {"release": r["release"], "sha256": r.get("sha256")} for corpus, r in releases.items()},
        "test_wer": summary["test"]["overall"]["wer"] if summary else None,
        "test_cer": summary["test"]["overall"]["cer"] if summary else None,
        "test_clips": summary["test"]["overall"]["clips"] if summary else None,
        "test_wer_ci95": overall.as_json()["wer_ci95"] if overall else None,
        "model": model.title,
        "report": "report.html",
    }


def build_report(root: DataRoot, pack: LanguagePack, params: Optional[Mapping[str, Any]] = None,
                 run_id: str = MANUAL_RUN, run_started: Optional[str] = None,
                 **given: Optional[Path]) -> Dict[str, Any]:
    """Write the run's report and summary, and the latest report; return their paths and what was missing.

    ``given`` are the upstream artifacts by input name (``test_summary``, ``test_output``, ``training``,
    ``tuning``, ``tuning_study``, ``model_card``, ``model_archive``, ``checkpoint_archive``,
    ``package_zip``); None: its step did not run in this run.
    """
    params = dict(params or {})
    run_dir = root.reports / RUNS / run_folder_name(run_id)
    latest = root.reports / "report.html"
    evidence = gather(root, given)
    inputs = report_inputs(evidence, pack, params, run_id, run_started)
    marker = CompletionMarker(run_dir, MARKER)
    if marker.is_current(inputs):
        recorded = marker.outputs()
        if latest.is_file() and sha256_file(latest) == recorded.get("latest_sha256"):
            LOG.info("report of run %s already written from these inputs (%s): nothing to do", run_id, marker.path)
            return dict(recorded, skipped=True)
    model = report_model(evidence, pack, params, run_id, run_started, inputs["files"])
    run_page, summary_path = run_dir / "report.html", run_dir / "summary.json"
    write_text_atomic(run_page, page.render(model, run_dir))
    write_json_atomic(summary_path, run_summary(model))
    write_text_atomic(latest, page.render(model, root.reports))
    result = {"report": str(latest), "run_report": str(run_page), "summary": str(summary_path), "run_id": run_id,
              "plots": plots.titles(model.figures), "missing": evidence.missing,
              "test_wer": run_summary(model)["test_wer"], "latest_sha256": sha256_file(latest)}
    marker.write(inputs, [run_page, summary_path, latest], result)
    LOG.info("report of run %s: %s (%d figures; latest: %s)", run_id, run_page, len(model.figures), latest)
    return dict(result, skipped=False)


def report_model(evidence: Evidence, pack: LanguagePack, params: Mapping[str, Any], run_id: str,
                 run_started: Optional[str], fingerprints: Mapping[str, Mapping[str, Any]]) -> page.ReportModel:
    """Intervals and figures from the evidence: the expensive part, done once for both pages."""
    LOG.info("bootstrap intervals over %d test and %d dev clips", sum(len(v) for v in evidence.test_sets.values()),
             sum(len(v) for v in evidence.dev_sets.values()))
    test_estimates = _estimates(evidence.test_sets)
    dev_estimates = _estimates(evidence.dev_sets)
    best = best_trial(evidence.trials, evidence.tuning)
    figures = plots.figures(evidence, test_estimates, best)
    meta = pack.metadata
    return page.ReportModel(
        title="{} {} ({})".format(meta.model_name, meta.model_version, meta.language), run_id=run_id,
        started=run_started, finished=finished_at(evidence), evidence=evidence, test_estimates=test_estimates,
        dev_estimates=dev_estimates, best_trial=best, figures=figures, artifacts=artifacts(evidence, fingerprints),
        parameters=dict(params), reported_in=image_identity())
