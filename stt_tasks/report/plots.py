"""The report's figures: matplotlib, drawn to SVG and embedded as data URIs.

SVG scales to any screen without blur and keeps the page one self-contained file. Drawn on a bare
``Figure`` (no pyplot state), with a fixed hash salt and no date in the metadata, so the same data
give the same bytes.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from stt_tasks.report.evidence import Trial
from stt_tasks.report.stats import RateEstimate

#: Colours of the splits, the same in every figure.
SPLIT_COLOURS = {"train": "#4c72b0", "dev": "#dd8452", "test": "#55a868"}
#: Colours of the dev sets' loss curves (the first is the dev split's).
DEV_COLOURS = ("#dd8452", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
_STYLE = {"svg.hashsalt": "stt-report", "font.size": 9.0, "axes.spines.top": False, "axes.spines.right": False,
          "svg.fonttype": "path"}


def svg_data_uri(draw: Callable[[Any], None], width: float = 6.4, height: float = 3.4) -> str:
    """Draw on fresh axes; the figure as an SVG ``data:`` URI."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(width, height))
        draw(figure.subplots())
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def short_name(csv_path: str) -> str:
    return Path(csv_path).name


def error_rates(estimates: Mapping[str, RateEstimate]) -> Callable[[Any], None]:
    """WER and CER per test set with their 95% intervals as error bars."""
    def draw(ax: Any) -> None:
        names = list(estimates)
        positions = range(len(names))
        for offset, metric, colour in ((-0.2, "wer", "#4c72b0"), (0.2, "cer", "#c44e52")):
            values = [getattr(estimates[n], metric) for n in names]
            intervals = [getattr(estimates[n], metric + "_interval") for n in names]
            below = [v - i.low if i else 0.0 for v, i in zip(values, intervals)]
            above = [i.high - v if i else 0.0 for v, i in zip(values, intervals)]
            ax.bar([p + offset for p in positions], values, width=0.4, color=colour, label=metric.upper(),
                   yerr=[below, above], capsize=3, ecolor="#333333")
        ax.set_xticks(list(positions))
        ax.set_xticklabels([short_name(n) for n in names], rotation=15, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("error rate (95% interval)")
        ax.legend(frameon=False)
    return draw


def hours(reports: Mapping[str, Mapping[str, Any]]) -> Callable[[Any], None]:
    """Hours kept per corpus, stacked by split."""
    def draw(ax: Any) -> None:
        names = list(reports)
        bottom = [0.0] * len(names)
        for split, colour in SPLIT_COLOURS.items():
            values = [float(reports[n].get("kept", {}).get(split, {}).get("hours", 0.0)) for n in names]
            ax.barh(names, values, left=bottom, color=colour, label=split)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.invert_yaxis()
        ax.set_xlabel("hours kept")
        ax.legend(frameon=False, ncol=3)
    return draw


def durations(reports: Mapping[str, Mapping[str, Any]]) -> Callable[[Any], None]:
    """Kept clips per duration bin, one line per corpus."""
    def draw(ax: Any) -> None:
        for name, report in reports.items():
            bins = report.get("duration_histogram", [])
            ax.plot([b[0] for b in bins], [b[1] for b in bins], marker="o", markersize=3, label=name)
        ax.set_ylabel("clips kept")
        ax.set_xlabel("duration")
        ax.tick_params(axis="x", rotation=45)
        ax.legend(frameon=False)
    return draw


def dropped(reports: Mapping[str, Mapping[str, Any]]) -> Callable[[Any], None]:
    """Clips the importers dropped, by reason, one bar per corpus."""
    def draw(ax: Any) -> None:
        reasons = sorted({r for report in reports.values() for r in report.get("dropped", {})})
        height = 0.8 / max(1, len(reports))
        for i, (name, report) in enumerate(reports.items()):
            counts = [report.get("dropped", {}).get(r, 0) for r in reasons]
            ax.barh([y + i * height for y in range(len(reasons))], counts, height=height, label=name)
        ax.set_yticks([y + height * (len(reports) - 1) / 2 for y in range(len(reasons))])
        ax.set_yticklabels(reasons)
        ax.invert_yaxis()
        ax.set_xlabel("clips dropped")
        ax.legend(frameon=False)
    return draw


def losses(history: Sequence[Mapping[str, Any]]) -> Callable[[Any], None]:
    """Train and dev CTC loss per epoch; the best dev epoch marked."""
    def draw(ax: Any) -> None:
        epochs = [int(e["epoch"]) + 1 for e in history]
        ax.plot(epochs, [e.get("train_loss") for e in history], label="train", color=SPLIT_COLOURS["train"])
        from matplotlib.ticker import MaxNLocator

        devs = sorted({d for e in history for d in e.get("dev_loss", {})})
        for i, dev in enumerate(devs):
            ax.plot(epochs, [e.get("dev_loss", {}).get(dev) for e in history], label="dev " + short_name(dev),
                    color=DEV_COLOURS[i % len(DEV_COLOURS)])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        best = best_dev_epoch(history)
        if best is not None:
            ax.axvline(best + 1, color="#999999", linestyle=":", label="best dev epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("CTC loss")
        ax.legend(frameon=False)
    return draw


def mean_dev_loss(epoch: Mapping[str, Any]) -> Optional[float]:
    values = [v for v in (epoch.get("dev_loss") or {}).values() if v is not None]
    return sum(values) / len(values) if values else None


def best_dev_epoch(history: Sequence[Mapping[str, Any]]) -> Optional[int]:
    """The epoch (from 0) with the lowest mean dev loss: the one coqui keeps as best_dev."""
    scored = [(mean_dev_loss(e), int(e["epoch"])) for e in history]
    scored = [(loss, epoch) for loss, epoch in scored if loss is not None]
    return min(scored)[1] if scored else None


def trials(found: Sequence[Trial], best: Optional[Trial], metric: str) -> Callable[[Any], None]:
    """Each tuning trial at its (alpha, beta), coloured by its dev error; the best one starred."""
    def draw(ax: Any) -> None:
        complete = [t for t in found if not t.pruned and t.error is not None]
        pruned = [t for t in found if t.pruned]
        if pruned:
            ax.scatter([t.lm_alpha for t in pruned], [t.lm_beta for t in pruned], marker="x", color="#aaaaaa",
                       s=14, label="pruned")
        if complete:
            points = ax.scatter([t.lm_alpha for t in complete], [t.lm_beta for t in complete],
                                c=[t.error for t in complete], cmap="viridis_r", s=18)
            ax.figure.colorbar(points, ax=ax, label="dev " + metric.upper())
        if best is not None:
            ax.scatter([best.lm_alpha], [best.lm_beta], marker="*", s=180, facecolor="none", edgecolor="#d62728",
                       linewidth=1.5, label="best: {} {:.3f}".format(metric.upper(), best.error))
        ax.set_xlabel("lm_alpha")
        ax.set_ylabel("lm_beta")
        ax.legend(frameon=False, loc="best")
    return draw


Figure = Tuple[str, str]  # (title, data URI)


def figures(evidence: Any, test_estimates: Mapping[str, RateEstimate], best: Optional[Trial]) -> Dict[str, Figure]:
    """Every figure the evidence allows, by section key."""
    drawn: Dict[str, Figure] = {}
    if test_estimates:
        drawn["error_rates"] = ("WER and CER per test set, with 95% bootstrap intervals",
                                svg_data_uri(error_rates(test_estimates)))
    reports = evidence.corpus_reports
    if reports:
        tall = max(2.2, 0.5 + 0.45 * len(reports))
        drawn["hours"] = ("Hours kept per corpus and split", svg_data_uri(hours(reports), height=tall))
        drawn["durations"] = ("Duration of the kept clips", svg_data_uri(durations(reports)))
        reasons = {r for report in reports.values() for r in report.get("dropped", {})}
        if reasons:
            drawn["dropped"] = ("Clips dropped by the importers, by reason",
                                svg_data_uri(dropped(reports), height=max(2.2, 0.6 + 0.35 * len(reasons))))
    if evidence.history:
        drawn["losses"] = ("Train and dev loss per epoch", svg_data_uri(losses(evidence.history)))
    if evidence.trials:
        metric = str((evidence.tuning or {}).get("metric", "wer"))
        drawn["trials"] = ("Decoder tuning: dev {} of each trial".format(metric.upper()),
                           svg_data_uri(trials(evidence.trials, best, metric), height=3.8))
    return drawn


def titles(drawn: Mapping[str, Figure]) -> List[str]:
    return [title for title, _uri in drawn.values()]
