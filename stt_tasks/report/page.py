"""The report's HTML: one self-contained page, readable at laptop width and on a phone.

Sections in the order a reader asks: which run this is, how well the model does, what it was trained
on, how training went, how the decoder was tuned, examples, parameters, the files. Figures scale to
the screen; wide tables scroll sideways inside their box instead of widening the page.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from stt_tasks.report.evidence import Artifact, Evidence, Trial
from stt_tasks.report.plots import Figure, best_dev_epoch, short_name
from stt_tasks.report.stats import LEVEL, RESAMPLES, Interval, RateEstimate

STYLE = """
:root { color-scheme: light dark; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 62rem;
       padding: 0 1rem 3rem; }
h1 { font-size: 1.45rem; margin-bottom: .3rem; }
h2 { font-size: 1.15rem; border-bottom: 1px solid #8884; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { font-size: 1rem; margin-top: 1.4rem; }
nav { font-size: .9rem; margin: .5rem 0 1rem; display: flex; flex-wrap: wrap; gap: .2rem .8rem; }
nav a { white-space: nowrap; }
figure { margin: 1rem 0; }
figure img { display: block; width: 100%; max-width: 46rem; height: auto; background: #fff; border-radius: 4px; }
figcaption { font-size: .85rem; opacity: .8; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
th, td { padding: .25rem .55rem; border-bottom: 1px solid #8883; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best td { font-weight: 600; }
code { font-size: .8rem; word-break: break-all; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dl.run dt { font-weight: 600; }
dl.run dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
details { margin: .5rem 0; }
.missing { opacity: .8; }
@media (max-width: 36rem) {
  body { font-size: 14px; padding: 0 .6rem 2rem; }
  dl.run { grid-template-columns: 1fr; }
  dl.run dd { margin-bottom: .4rem; }
}
""".strip()

SECTIONS = (("run", "Run"), ("results", "Results"), ("data", "Data"), ("training", "Training"),
            ("decoder", "Decoder"), ("samples", "Samples"), ("parameters", "Parameters"), ("artifacts", "Files"))


@dataclass
class ReportModel:
    """What the page shows, computed once; rendered once per place the page is written."""

    title: str
    run_id: str
    started: Optional[str]
    finished: Optional[str]
    evidence: Evidence
    test_estimates: Dict[str, RateEstimate]
    dev_estimates: Dict[str, RateEstimate]
    best_trial: Optional[Trial]
    figures: Dict[str, Figure]
    artifacts: List[Artifact]
    parameters: Dict[str, Any]
    reported_in: Dict[str, str]
    notes: List[str] = field(default_factory=list)


def esc(value: Any) -> str:
    return html.escape(str(value))


def pct(value: Optional[float]) -> str:
    return "—" if value is None else "{:.1f} %".format(100 * value)


def with_interval(value: float, interval: Optional[Interval]) -> str:
    if interval is None:
        return pct(value)
    return "{} <small>[{:.1f}–{:.1f}]</small>".format(pct(value), 100 * interval.low, 100 * interval.high)


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (),
          row_classes: Optional[Sequence[str]] = None) -> str:
    """A scrollable table; cells are HTML already (escape text before); ``numeric`` columns align right."""
    def cell(tag: str, index: int, content: str) -> str:
        return "<{0}{1}>{2}</{0}>".format(tag, ' class="n"' if index in numeric else "", content)

    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        css = row_classes[r] if row_classes and row_classes[r] else ""
        body.append("<tr{}>{}</tr>".format(' class="{}"'.format(css) if css else "",
                                           "".join(cell("td", i, c) for i, c in enumerate(row))))
    return '<div class="scroll"><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'.format(
        head, "".join(body))


def figure(drawn: Mapping[str, Figure], key: str) -> str:
    if key not in drawn:
        return ""
    title, uri = drawn[key]
    return '<figure><img alt="{0}" src="{1}"><figcaption>{0}</figcaption></figure>'.format(esc(title), uri)


def link(path: Path, page_dir: Path, text: str) -> str:
    """A link to ``path`` relative to the page, so it works wherever the data root is served from."""
    target = os.path.relpath(str(path), str(page_dir))
    return '<a href="{}">{}</a>'.format(esc(Path(target).as_posix()), esc(text))


# --- sections ---------------------------------------------------------------------------------------

def run_section(model: ReportModel) -> List[str]:
    evidence = model.evidence
    items: List[Tuple[str, str]] = [("Run", "<code>{}</code>".format(esc(model.run_id))),
                                    ("Started", esc(model.started or "not recorded (run by hand)")),
                                    ("Finished", esc(model.finished or "—"))]
    releases = evidence.releases()
    if releases:
        for corpus, release in releases.items():
            checksum = ("sha256 <code>{}</code>{}".format(esc(release["sha256"]), "" if release.get("sha256_known")
                                                         else " (no published checksum to compare)")
                        if release.get("sha256") else "imported from an extracted folder: no sha256")
            items.append(("Common Voice ({})".format(esc(corpus)), "<code>{}</code>, {}".format(
                esc(release["release"]), checksum)))
    else:
        items.append(("Common Voice release", "not recorded in the import reports"))
    trained_in = (evidence.training or {}).get("trained_in") or {}
    if trained_in:
        items.append(("Trained in", "image <code>{}</code>, code revision <code>{}</code>".format(
            esc(trained_in.get("image", "unknown")), esc(trained_in.get("code_revision", "unknown")))))
    items.append(("Reported in", "image <code>{}</code>, code revision <code>{}</code>".format(
        esc(model.reported_in.get("image", "unknown")), esc(model.reported_in.get("code_revision", "unknown")))))
    if evidence.summary:
        overall = model.test_estimates.get("overall")
        test = evidence.summary["test"]["overall"]
        items.append(("Test WER", with_interval(test["wer"], overall.wer_interval if overall else None)
                      + " over {} clips".format(test["clips"])))
    body = "".join("<dt>{}</dt><dd>{}</dd>".format(k, v) for k, v in items)
    return ['<section id="run"><h2>Run</h2><dl class="run">{}</dl></section>'.format(body)]


def rates_table(per_csv: Mapping[str, Mapping[str, Any]], overall: Mapping[str, Any],
                estimates: Mapping[str, RateEstimate]) -> str:
    rows = []
    for name, rates in list(per_csv.items()) + [("overall", overall)]:
        found = estimates.get(name)
        rows.append(["<strong>overall</strong>" if name == "overall" else esc(short_name(name)), str(rates["clips"]),
                     with_interval(rates["wer"], found.wer_interval if found else None),
                     with_interval(rates["cer"], found.cer_interval if found else None)])
    return table(["set", "clips", "WER [95% CI]", "CER [95% CI]"], rows, numeric=(1, 2, 3))


def results_section(model: ReportModel) -> List[str]:
    summary = model.evidence.summary
    out = ['<section id="results"><h2>Results</h2>']
    if not summary:
        out.append('<p class="missing">Not tested: the test step did not run.</p></section>')
        return out
    decoder = summary["decoder"]
    out.append("<p>Best dev checkpoint <code>{}</code>, decoded with beam width {}, lm_alpha {:.4f}, lm_beta {:.4f} "
               "(from {}), scorer {}. Intervals: {:.0%} bootstrap over clips ({} resamples).</p>".format(
                   esc(Path(str(summary.get("checkpoint", "?"))).name), decoder["beam_width"], decoder["lm_alpha"],
                   decoder["lm_beta"], esc(decoder["alpha_beta_from"]),
                   "<code>{}</code>".format(esc(Path(decoder["scorer"]).name)) if decoder["scorer"] else "none",
                   LEVEL, RESAMPLES))
    out.append("<h3>Test</h3>" + rates_table(summary["test"]["per_csv"], summary["test"]["overall"],
                                            model.test_estimates))
    out.append(figure(model.figures, "error_rates"))
    if summary.get("dev"):
        out.append("<h3>Dev</h3>" + rates_table(summary["dev"]["per_csv"], summary["dev"]["overall"],
                                               model.dev_estimates))
    out.append("</section>")
    return out


def data_section(model: ReportModel) -> List[str]:
    reports = model.evidence.corpus_reports
    out = ['<section id="data"><h2>Data</h2>']
    if not reports:
        out.append('<p class="missing">No import report: no corpus was imported.</p></section>')
        return out
    rows = []
    for corpus, report in reports.items():
        kept = report.get("kept", {})
        cells = [esc(corpus)]
        for split in ("train", "dev", "test"):
            part = kept.get(split, {})
            cells.append("{:.2f} h <small>({} clips, {} speakers)</small>".format(
                float(part.get("hours", 0.0)), part.get("clips", 0), part.get("speakers", 0)))
        cells.append("{:.2f} h".format(float(report.get("kept_hours", 0.0))))
        rows.append(cells)
    out.append(table(["corpus", "train", "dev", "test", "kept"], rows, numeric=(1, 2, 3, 4)))
    out.append(figure(model.figures, "hours"))
    out.append(figure(model.figures, "durations"))
    out.append("<h3>Dropped clips</h3>")
    dropped_rows = []
    for corpus, report in reports.items():
        examples = report.get("dropped_examples", {})
        for reason, count in sorted(report.get("dropped", {}).items()):
            shown = examples.get(reason, [])[:3]
            dropped_rows.append([esc(corpus), esc(reason), str(count),
                                 "<br>".join("<code>{}</code>".format(esc(e)) for e in shown) or "—"])
    if dropped_rows:
        out.append(table(["corpus", "reason", "clips", "examples"], dropped_rows, numeric=(2,)))
        out.append(figure(model.figures, "dropped"))
    else:
        out.append("<p>No clip was dropped.</p>")
    out.append("</section>")
    return out


def training_section(model: ReportModel) -> List[str]:
    training, history = model.evidence.training, model.evidence.history
    out = ['<section id="training"><h2>Training</h2>']
    if not training:
        out.append('<p class="missing">No training record: the train step did not run.</p></section>')
        return out
    best = best_dev_epoch(history)
    transfer = training.get("transfer")
    out.append("<p>{} epochs ({} steps), n_hidden {}, best dev checkpoint <code>{}</code>{}{}.</p>".format(
        training.get("epochs"), training.get("global_step"), training.get("n_hidden"),
        esc(Path(str(training.get("best_dev_checkpoint"))).name),
        ", lowest dev loss at epoch {}".format(best + 1) if best is not None else "",
        ", fine-tuned from <code>{}</code>".format(esc(transfer.get("checkpoint_dir"))) if transfer else ""))
    out.append(figure(model.figures, "losses"))
    if history:
        devs = sorted({d for e in history for d in e.get("dev_loss", {})})
        rows = [[str(int(e["epoch"]) + 1), _loss(e.get("train_loss"))] + [_loss(e.get("dev_loss", {}).get(d))
                                                                        for d in devs] for e in history]
        classes = ["best" if best is not None and int(e["epoch"]) == best else "" for e in history]
        out.append("<details><summary>Loss per epoch</summary>{}</details>".format(
            table(["epoch", "train"] + ["dev " + short_name(d) for d in devs], rows,
                  numeric=tuple(range(len(devs) + 2)), row_classes=classes)))
    out.append("</section>")
    return out


def _loss(value: Optional[float]) -> str:
    return "—" if value is None else "{:.3f}".format(value)


def decoder_section(model: ReportModel) -> List[str]:
    tuning, found = model.evidence.tuning, model.evidence.trials
    out = ['<section id="decoder"><h2>Decoder tuning</h2>']
    if not tuning:
        out.append('<p class="missing">Not tuned in this run (no LM_EVALUATE_RANGE): the decoder used the '
                   'weights of the parameters or of the scorer package.</p></section>')
        return out
    metric = str(tuning.get("metric", "wer"))
    out.append("<p>Tuned on the dev sets ({}) in {} trials: lm_alpha {:.4f}, lm_beta {:.4f}, dev {} {}.</p>".format(
        ", ".join("<code>{}</code>".format(esc(short_name(p))) for p in tuning.get("tuned_on", [])) or "?",
        tuning["trials"], tuning["lm_alpha"], tuning["lm_beta"], esc(metric.upper()), pct(tuning["wer"])))
    out.append(figure(model.figures, "trials"))
    if found:
        ranked = sorted((t for t in found if t.error is not None), key=lambda t: (t.pruned, t.error, t.number))
        rows = [[str(t.number), "{:.4f}".format(t.lm_alpha), "{:.4f}".format(t.lm_beta), pct(t.error),
                 "pruned" if t.pruned else ("best" if t == model.best_trial else "")] for t in ranked[:10]]
        out.append("<h3>Best trials</h3>" + table(["trial", "lm_alpha", "lm_beta", "dev " + metric.upper(), ""],
                                                   rows, numeric=(0, 1, 2, 3),
                                                   row_classes=["best" if t == model.best_trial else ""
                                                                for t in ranked[:10]]))
    out.append("</section>")
    return out


def samples_section(model: ReportModel) -> List[str]:
    summary = model.evidence.summary
    out = ['<section id="samples"><h2>Samples (test)</h2>']
    if not summary or not summary.get("samples"):
        out.append('<p class="missing">No test samples.</p></section>')
        return out
    for kind in ("best", "median", "worst"):
        rows = [[pct(s.get("wer") or 0.0), esc(s.get("src") or ""), esc(s.get("res") or ""),
                 "<code>{}</code>".format(esc(Path(str(s.get("wav_filename") or "")).name))]
                for s in summary["samples"].get(kind, [])]
        out.append("<h3>{}</h3>".format(kind.capitalize()) + table(["WER", "reference", "transcript", "clip"], rows,
                                                                   numeric=(0,)))
    out.append("</section>")
    return out


def parameters_section(model: ReportModel) -> List[str]:
    trained = (model.evidence.training or {}).get("parameters") or {}
    rows = []
    for name in sorted(set(model.parameters) | set(trained)):
        run_value = model.parameters.get(name, "—")
        cells = [esc(name), "<code>{}</code>".format(esc(_shown(run_value)))]
        if name in trained and _shown(trained[name]) != _shown(run_value):
            cells.append("<code>{}</code>".format(esc(_shown(trained[name]))))
        else:
            cells.append("")
        rows.append(cells)
    return ['<section id="parameters"><h2>Parameters</h2><p>This run\'s parameters; a third column shows the '
            'value the model was trained with where it differs (a training resumed or kept from an earlier run).'
            '</p><details><summary>{} parameters</summary>{}</details></section>'.format(
                len(rows), table(["parameter", "this run", "trained with"], rows))]


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return "—" if value is None else str(value)


def artifacts_section(model: ReportModel, page_dir: Path) -> List[str]:
    rows = [[link(a.path, page_dir, a.path.name) + "<br><small>{}</small>".format(esc(a.label)),
             "{:,}".format(a.size), "<code>{}</code>".format(esc(a.sha256))] for a in model.artifacts]
    return ['<section id="artifacts"><h2>Files</h2>', table(["file", "bytes", "sha256"], rows, numeric=(1,)),
            "</section>"]


def missing_section(model: ReportModel) -> List[str]:
    if not model.evidence.missing:
        return []
    return ['<section id="missing"><h2>Not available</h2><ul class="missing">{}</ul></section>'.format(
        "".join("<li>{}</li>".format(esc(m)) for m in model.evidence.missing))]


def render(model: ReportModel, page_dir: Path) -> str:
    """The page as it is written into ``page_dir`` (links are relative to it)."""
    nav = "".join('<a href="#{}">{}</a>'.format(key, label) for key, label in SECTIONS)
    body = ["<header><h1>{}</h1><nav>{}</nav></header>".format(esc(model.title), nav)]
    for section in (run_section(model), results_section(model), data_section(model), training_section(model),
                    decoder_section(model), samples_section(model), parameters_section(model),
                    artifacts_section(model, page_dir), missing_section(model)):
        body += section
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>{} — {}</title><style>{}</style></head>\n<body>\n{}\n</body></html>\n").format(
                esc(model.title), esc(model.run_id), STYLE, "\n".join(body))
