"""Leakage between training and evaluation data, within and across every imported corpus.

A speaker or a sentence seen in training and again in a dev or test set makes the evaluation
optimistic. The engine writes, beside each corpus's CSVs, a manifest of (split, how the split was
decided, speaker, transcript) per kept clip; this step compares every train set with every dev and
test set and classifies what it finds:

- ``created``: within a corpus whose split we chose (``speaker_hash``, or ``resplit`` of Common Voice's
  validated clips): our own doing, so an error;
- ``inherited``: within a corpus whose official splits were kept (Common Voice, MLS, OpenSLR 57):
  reported with counts, since changing the corpus's partition would break comparability;
- ``across_corpora``: a sentence in one corpus's train set and another's dev/test set: reported.
  Speakers are identified per corpus (user names, hashes), so they are compared within a corpus only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Set

from stt_tasks.errors import BadInputError, StepError
from stt_tasks.fsio import write_json_atomic, write_text_atomic
from stt_tasks.importers.engine import MANIFEST_HEADER
from stt_tasks.importers.records import OFFICIAL, SPLITS
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG

EVALUATION_SPLITS = ("dev", "test")
EXAMPLES = 10


@dataclass
class CorpusSplits:
    """Speakers and sentences per split of one imported corpus."""

    corpus: str
    official: bool
    #: who chose the splits (manifest's ``assigned`` column): official, speaker_hash, resplit
    assigned: Set[str] = field(default_factory=set)
    speakers: Dict[str, Set[str]] = field(default_factory=lambda: {s: set() for s in SPLITS})
    sentences: Dict[str, Set[str]] = field(default_factory=lambda: {s: set() for s in SPLITS})
    has_speakers: bool = True


class LeakageError(StepError):
    """Our own splits put a speaker or sentence in both train and an evaluation set."""


def _from_manifest(path: Path) -> CorpusSplits:
    corpus = path.name[: -len("_manifest.tsv")]
    splits = CorpusSplits(corpus, official=True)
    with open(path, encoding="utf-8") as handle:
        if handle.readline().rstrip("\n").split("\t") != list(MANIFEST_HEADER):
            raise BadInputError("{} line 1: not an import manifest; re-run this corpus's importer.".format(path))
        for number, line in enumerate(handle, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(MANIFEST_HEADER) or fields[0] not in SPLITS:
                raise BadInputError("{} line {}: malformed; re-run this corpus's importer.".format(path, number))
            split, assigned, speaker, transcript = fields
            splits.official = splits.official and assigned == OFFICIAL
            splits.assigned.add(assigned)
            splits.speakers[split].add(speaker)
            splits.sentences[split].add(transcript)
    return splits


def _from_csvs(directory: Path, corpus: str) -> CorpusSplits:
    """A corpus imported without a manifest (older import, foreign CSVs): sentences only."""
    splits = CorpusSplits(corpus, official=True, has_speakers=False)
    for split in SPLITS:
        for path in directory.glob("*{}.csv".format(split)):
            with open(path, encoding="utf-8", newline="") as handle:
                splits.sentences[split].update(row["transcript"] for row in csv.DictReader(handle))
    return splits


def load_corpora(data_dir: Path) -> List[CorpusSplits]:
    """Every imported corpus under ``extracted/data/``."""
    corpora = []
    for directory in sorted(p for p in data_dir.iterdir() if p.is_dir()) if data_dir.is_dir() else []:
        manifests = sorted(directory.glob("*_manifest.tsv"))
        if manifests:
            corpora.extend(_from_manifest(m) for m in manifests)
        elif any(directory.rglob("*train.csv")):
            corpora.append(_from_csvs(directory, directory.name))
    return corpora


def _assigned_by(corpus: CorpusSplits) -> str:
    """Who chose the corpus's splits, for the report: "official", or ours ("speaker_hash", "resplit")."""
    ours = sorted(corpus.assigned - {OFFICIAL})
    return ", ".join(ours) if ours else OFFICIAL


def _overlap(train: Set[str], evaluation: Set[str]) -> Dict[str, Any]:
    shared = sorted(train & evaluation)
    return {"count": len(shared), "examples": shared[:EXAMPLES]}


def leakage(corpora: List[CorpusSplits]) -> Dict[str, Any]:
    """Every (train set, dev/test set) pair that shares speakers or sentences, classified."""
    findings: List[Dict[str, Any]] = []
    for source in corpora:
        for target in corpora:
            for split in EVALUATION_SPLITS:
                sentences = _overlap(source.sentences["train"], target.sentences[split])
                same = source.corpus == target.corpus
                speakers = (
                    _overlap(source.speakers["train"], target.speakers[split])
                    if same and source.has_speakers
                    else {"count": 0, "examples": []}
                )
                if not sentences["count"] and not speakers["count"]:
                    continue
                kind = "across_corpora" if not same else ("inherited" if source.official else "created")
                findings.append(
                    {
                        "train": "{}/train".format(source.corpus),
                        "evaluation": "{}/{}".format(target.corpus, split),
                        "kind": kind,
                        "shared_speakers": speakers,
                        "shared_sentences": sentences,
                    }
                )
    totals: Dict[str, Dict[str, int]] = {}
    for kind in ("created", "inherited", "across_corpora"):
        chosen = [f for f in findings if f["kind"] == kind]
        totals[kind] = {
            "pairs": len(chosen),
            "shared_speakers": sum(f["shared_speakers"]["count"] for f in chosen),
            "shared_sentences": sum(f["shared_sentences"]["count"] for f in chosen),
        }
    return {
        "corpora": [
            {"corpus": c.corpus, "splits": _assigned_by(c), "speakers_known": c.has_speakers}
            for c in corpora
        ],
        "totals": totals,
        "findings": findings,
    }


def leakage_text(report: Dict[str, Any]) -> str:
    lines = ["Leakage between train and dev/test sets", ""]
    for corpus in report["corpora"]:
        lines.append("  {:<28} splits: {}".format(corpus["corpus"], corpus["splits"]))
    lines.append("")
    for kind, total in report["totals"].items():
        lines.append(
            "{:<15} {:>4} pairs, {:>7} shared speakers, {:>7} shared sentences".format(
                kind, total["pairs"], total["shared_speakers"], total["shared_sentences"]
            )
        )
    for finding in report["findings"]:
        lines.append(
            "  [{}] {} vs {}: {} speakers, {} sentences (e.g. {})".format(
                finding["kind"],
                finding["train"],
                finding["evaluation"],
                finding["shared_speakers"]["count"],
                finding["shared_sentences"]["count"],
                ", ".join(repr(s) for s in finding["shared_sentences"]["examples"][:3]) or "-",
            )
        )
    return "\n".join(lines) + "\n"


def write_leakage_report(data_root: DataRoot) -> Dict[str, Any]:
    """Write ``reports/leakage.{json,txt}``; raise LeakageError when our own splits leak."""
    corpora = load_corpora(data_root.data)
    report = leakage(corpora)
    json_path = data_root.reports / "leakage.json"
    text_path = data_root.reports / "leakage.txt"
    write_json_atomic(json_path, report)
    write_text_atomic(text_path, leakage_text(report))
    LOG.info("\n%s", leakage_text(report))
    created = report["totals"]["created"]
    if created["pairs"]:
        raise LeakageError(
            "our own splits leak ({} speakers, {} sentences shared between train and dev/test; see {}). "
            "Re-import the corpora named there: their CSVs predate the engine's speaker and sentence "
            "rules or were edited by hand.".format(created["shared_speakers"], created["shared_sentences"], text_path)
        )
    return {
        "leakage_report": str(json_path),
        "leakage_text": str(text_path),
        "corpora": [c.corpus for c in corpora],
        "totals": report["totals"],
    }
