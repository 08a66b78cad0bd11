"""What an import kept and dropped, and why: a JSON report for tools and a text one for people."""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Set

from stt_tasks.audio import TARGET_RATE
from stt_tasks.importers.records import SPLITS, SourceIssues

#: Upper bounds (seconds) of the duration histogram's bins; the last bin is open.
DURATION_BINS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20)
EXAMPLES_PER_REASON = 20


def _bin_label(seconds: float) -> str:
    lower = 0
    for upper in DURATION_BINS:
        if seconds < upper:
            return "{}-{}s".format(lower, upper)
        lower = upper
    return ">={}s".format(DURATION_BINS[-1])


class ImportReport:
    """Accumulates per-clip decisions; output is deterministic (sorted, no timestamps)."""

    def __init__(self, corpus: str, source_issues: SourceIssues) -> None:
        self.corpus = corpus
        self.source_issues = source_issues
        self.kept: Counter = Counter()
        self.kept_frames: Counter = Counter()
        self.speakers: Dict[str, Set[str]] = {split: set() for split in SPLITS}
        self.dropped: Counter = Counter()
        self.dropped_frames = 0
        self.examples: Dict[str, List[str]] = {}
        self.histogram: Counter = Counter()

    def keep(self, split: str, frames: int, speaker: str) -> None:
        self.kept[split] += 1
        self.kept_frames[split] += frames
        self.speakers[split].add(speaker)
        self.histogram[_bin_label(frames / TARGET_RATE)] += 1

    def drop(self, reason: str, where: str, frames: int = 0) -> None:
        self.dropped[reason] += 1
        self.dropped_frames += frames
        bucket = self.examples.setdefault(reason, [])
        if len(bucket) < EXAMPLES_PER_REASON:
            bucket.append(where)

    def kept_counts(self) -> Dict[str, int]:
        return {split: self.kept[split] for split in SPLITS}

    def kept_hours(self) -> float:
        return sum(self.kept_frames.values()) / TARGET_RATE / 3600

    def as_json(self) -> Dict[str, Any]:
        ordered_bins = [_bin_label(b - 0.5) for b in DURATION_BINS] + [">={}s".format(DURATION_BINS[-1])]
        return {
            "corpus": self.corpus,
            "kept": {
                split: {
                    "clips": self.kept[split],
                    "hours": round(self.kept_frames[split] / TARGET_RATE / 3600, 4),
                    "speakers": len(self.speakers[split]),
                }
                for split in SPLITS
            },
            "kept_hours": round(self.kept_hours(), 4),
            "dropped": {reason: self.dropped[reason] for reason in sorted(self.dropped)},
            "dropped_hours_measured": round(self.dropped_frames / TARGET_RATE / 3600, 4),
            "dropped_examples": {reason: sorted(v) for reason, v in sorted(self.examples.items())},
            "source_issues": dict(sorted(self.source_issues.counts.items())),
            "source_issue_examples": {k: list(v) for k, v in sorted(self.source_issues.examples.items())},
            "duration_histogram": [[label, self.histogram[label]] for label in ordered_bins],
        }

    def as_text(self) -> str:
        report = self.as_json()
        lines = ["Import report: {}".format(self.corpus), ""]
        for split in SPLITS:
            kept = report["kept"][split]
            lines.append(
                "  {:<5} {:>8} clips {:>9.2f} h {:>6} speakers".format(
                    split, kept["clips"], kept["hours"], kept["speakers"]
                )
            )
        lines.append("  kept  {:>8} clips {:>9.2f} h".format(sum(self.kept.values()), report["kept_hours"]))
        lines.append("")
        total_dropped = sum(self.dropped.values())
        lines.append(
            "Dropped {} clips ({:.2f} h measured; clips never decoded have no duration):".format(
                total_dropped, report["dropped_hours_measured"]
            )
        )
        for reason, count in report["dropped"].items():
            lines.append("  {:<24} {:>8}   e.g. {}".format(reason, count, report["dropped_examples"][reason][0]))
        if self.dropped["too_long"]:
            lines.append(
                "  (the transcripts of the too-long clips are in {}_too_long.txt: the lm step adds them to the LM "
                "text with lm_add_excluded_max_sec)".format(self.corpus)
            )
        if report["source_issues"]:
            lines.append("")
            lines.append("Problems in the corpus's own files (rows skipped):")
            for reason, count in report["source_issues"].items():
                lines.append("  {:<24} {:>8}   e.g. {}".format(reason, count, report["source_issue_examples"][reason][0]))
        lines.append("")
        lines.append("Duration of kept clips:")
        for label, count in report["duration_histogram"]:
            if count:
                lines.append("  {:>7} {:>8}".format(label, count))
        return "\n".join(lines) + "\n"
