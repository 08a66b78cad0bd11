"""The report step: one self-contained HTML page (``reports/report.html``) with plots of the run.

Plots (matplotlib, Agg backend, embedded as PNG data so the page can be mailed or archived alone):
hours per corpus, clip durations, clips dropped by the importers by reason (from each
``<corpus>_report.json``), train/dev loss per epoch (the history the train step's result names) and
WER/CER per test corpus (the test step's summary), with the decoder's settings and tuning. Parts whose
inputs do not exist yet are listed as missing rather than failing, so the report can be built at any
point of the pipeline.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from stt_tasks.fsio import write_text_atomic
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.package import corpus_reports
from stt_tasks.progress import LOG


def _load(path: Path) -> Optional[Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _figure_png(draw: Callable[[Any], None], width: float = 6.4, height: float = 3.6) -> str:
    """Draw on a fresh Agg figure and return it as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height))
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
    finally:
        plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def hours_per_corpus(reports: Dict[str, Dict[str, Any]]) -> Tuple[str, Callable[[Any], None]]:
    def draw(ax: Any) -> None:
        names = list(reports)
        splits = ("train", "dev", "test")
        bottom = [0.0] * len(names)
        for split in splits:
            hours = [float(reports[n].get("kept", {}).get(split, {}).get("hours", 0.0)) for n in names]
            ax.bar(names, hours, bottom=bottom, label=split)
            bottom = [b + h for b, h in zip(bottom, hours)]
        ax.set_ylabel("hours kept")
        ax.legend()
    return "Hours per corpus", draw


def durations(reports: Dict[str, Dict[str, Any]]) -> Tuple[str, Callable[[Any], None]]:
    def draw(ax: Any) -> None:
        for name, report in reports.items():
            bins = report.get("duration_histogram", [])
            ax.plot([b[0] for b in bins], [b[1] for b in bins], marker="o", label=name)
        ax.set_ylabel("clips")
        ax.set_xlabel("duration")
        ax.tick_params(axis="x", rotation=45)
        ax.legend()
    return "Clip durations (kept clips)", draw


def rejections(reports: Dict[str, Dict[str, Any]]) -> Tuple[str, Callable[[Any], None]]:
    def draw(ax: Any) -> None:
        reasons = sorted({r for report in reports.values() for r in report.get("dropped", {})})
        width = 0.8 / max(1, len(reports))
        for i, (name, report) in enumerate(reports.items()):
            counts = [report.get("dropped", {}).get(r, 0) for r in reasons]
            ax.bar([x + i * width for x in range(len(reasons))], counts, width=width, label=name)
        ax.set_xticks([x + width * (len(reports) - 1) / 2 for x in range(len(reasons))])
        ax.set_xticklabels(reasons or ["none"])
        ax.set_ylabel("clips dropped")
        ax.legend()
    return "Clips dropped by the importers, by reason", draw


def losses(history: List[Dict[str, Any]]) -> Tuple[str, Callable[[Any], None]]:
    def draw(ax: Any) -> None:
        epochs = [e["epoch"] for e in history]
        ax.plot(epochs, [e.get("train_loss") for e in history], label="train")
        dev_sets = sorted({d for e in history for d in e.get("dev_loss", {})})
        for dev in dev_sets:
            ax.plot(epochs, [e.get("dev_loss", {}).get(dev) for e in history], label="dev " + Path(dev).name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("CTC loss")
        ax.legend()
    return "Loss per epoch", draw


def error_rates(summary: Dict[str, Any]) -> Tuple[str, Callable[[Any], None]]:
    def draw(ax: Any) -> None:
        per_csv = summary["test"]["per_csv"]
        names = [Path(p).name for p in per_csv] + ["overall"]
        rates = list(per_csv.values()) + [summary["test"]["overall"]]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [r["wer"] for r in rates], width=0.4, label="WER")
        ax.bar([x + 0.2 for x in xs], [r["cer"] for r in rates], width=0.4, label="CER")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, rotation=20)
        ax.set_ylim(0, 1)
        ax.legend()
    return "WER and CER per test corpus", draw


def decoder_section(summary: Optional[Dict[str, Any]], tuned: Optional[Dict[str, Any]],
                    samples: Optional[List[Dict[str, Any]]]) -> List[str]:
    """What the decoder was tested with, how its alpha/beta were tuned, how many clips were decoded."""
    lines: List[str] = []
    if summary:
        decoder = summary["decoder"]
        lines.append("<p>Tested with beam width {}, lm_alpha {:.4f}, lm_beta {:.4f} (from {}), scorer {}{}.</p>"
                     .format(decoder["beam_width"], decoder["lm_alpha"], decoder["lm_beta"],
                             html.escape(str(decoder["alpha_beta_from"])),
                             html.escape(Path(decoder["scorer"]).name if decoder["scorer"] else "none"),
                             "; {} clips decoded (test and dev)".format(len(samples)) if samples is not None else ""))
    if tuned:
        lines.append("<p>Decoder tuned on the dev sets in {} trials: lm_alpha {:.4f}, lm_beta {:.4f}, dev {} {:.4f}."
                     "</p>".format(tuned["trials"], tuned["lm_alpha"], tuned["lm_beta"], html.escape(tuned["metric"]),
                                   tuned["wer"]))
    return ["<h2>Decoder</h2>"] + lines if lines else []


def _load_given(path: Optional[Path]) -> Optional[Any]:
    """The upstream artifact given, read; None when none was (its step did not run: a file an earlier run
    left at the step's usual path is not this run's)."""
    return _load(path) if path is not None else None


def build_report(root: DataRoot, pack: LanguagePack, test_summary: Optional[Path] = None,
                 test_output: Optional[Path] = None, training: Optional[Path] = None,
                 tuning: Optional[Path] = None) -> Dict[str, Any]:
    """Write ``reports/report.html``; return which sections it holds and which inputs were missing.

    ``test_summary``, ``test_output``, ``training`` and ``tuning`` are the test, train and optimize-lm
    steps' results (None: not produced in this run); the loss history is the file the training names.
    """
    reports = corpus_reports(root)
    trained = _load_given(training) or {}
    history_path = Path(trained["history"]) if trained.get("history") else None
    history = (_load(history_path) or {}).get("epochs", []) if history_path else []
    summary = _load_given(test_summary)
    tuned = _load_given(tuning)
    if test_output is None and summary and summary.get("test_output"):
        test_output = Path(summary["test_output"])
    samples = _load_given(test_output)
    sections: List[Tuple[str, Callable[[Any], None]]] = []
    missing: List[str] = []
    if reports:
        sections += [hours_per_corpus(reports), durations(reports), rejections(reports)]
    else:
        missing.append("importer reports ({}/*/*_report.json)".format(root.data))
    if history:
        sections.append(losses(history))
    else:
        missing.append("loss history ({})".format(history_path or "named by the train step's {}".format(
            training or root.training.name)))
    if summary:
        sections.append(error_rates(summary))
    else:
        missing.append("test summary ({})".format(test_summary or "the test step did not run"))
    body = ["<h1>{} {} ({})</h1>".format(html.escape(pack.metadata.model_name), html.escape(pack.metadata.model_version),
                                          html.escape(pack.metadata.language))]
    for title, draw in sections:
        LOG.info("plot: %s", title)
        body.append("<h2>{}</h2><img alt=\"{}\" src=\"data:image/png;base64,{}\">".format(
            html.escape(title), html.escape(title), _figure_png(draw)))
    if summary:
        body.append("<h2>Samples (test)</h2>")
        for kind in ("best", "median", "worst"):
            body.append("<h3>{}</h3><table><tr><th>WER</th><th>reference</th><th>transcript</th></tr>".format(kind))
            for sample in summary["samples"][kind]:
                body.append("<tr><td>{:.2f}</td><td>{}</td><td>{}</td></tr>".format(
                    sample.get("wer") or 0.0, html.escape(sample.get("src") or ""), html.escape(sample.get("res") or "")))
            body.append("</table>")
    body += decoder_section(summary, tuned, samples)
    if missing:
        body.append("<h2>Not available yet</h2><ul>{}</ul>".format(
            "".join("<li>{}</li>".format(html.escape(m)) for m in missing)))
    page = "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{}</body></html>\n".format(
        html.escape(pack.metadata.model_name), "\n".join(body))
    target = root.reports / "report.html"
    write_text_atomic(target, page)
    return {"report": str(target), "plots": [title for title, _ in sections], "missing": missing}
