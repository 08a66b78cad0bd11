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

With ``warm_start=previous`` the new model starts from the last successful run's, so the new dev/test
sets must also be disjoint from what *that* model trained on (``models/previous/train_set.tsv``): a
clip, sentence or speaker of theirs in it fails the step with the list (``warm_start`` in the report).
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
    #: the speakers and sentences of the clips whose split we chose (a release with deltas mixes both)
    our_speakers: Dict[str, Set[str]] = field(default_factory=lambda: {s: set() for s in SPLITS})
    our_sentences: Dict[str, Set[str]] = field(default_factory=lambda: {s: set() for s in SPLITS})

    @property
    def mixed(self) -> bool:
        """Some splits official, some ours (Common Voice with deltas): only what involves ours is created."""
        return OFFICIAL in self.assigned and len(self.assigned) > 1


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
            if assigned != OFFICIAL:
                splits.our_speakers[split].add(speaker)
                splits.our_sentences[split].add(transcript)
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


def _ours_shared(train: Set[str], ours_train: Set[str], evaluation: Set[str], ours_evaluation: Set[str]) -> Set[str]:
    """What train and an evaluation set share through a clip whose split we chose (on either side)."""
    return (ours_train & evaluation) | (train & ours_evaluation)


def _mixed_findings(corpus: CorpusSplits, split: str) -> List[Dict[str, Any]]:
    """Within a corpus of official and assigned splits: the overlap involving ours is created, the rest inherited."""
    findings = []
    created = {
        "speakers": _ours_shared(corpus.speakers["train"], corpus.our_speakers["train"], corpus.speakers[split],
                                 corpus.our_speakers[split]),
        "sentences": _ours_shared(corpus.sentences["train"], corpus.our_sentences["train"], corpus.sentences[split],
                                  corpus.our_sentences[split]),
    }
    for kind, chosen in (("created", created), ("inherited", None)):
        parts = {}
        for what in ("speakers", "sentences"):
            shared = getattr(corpus, what)["train"] & getattr(corpus, what)[split]
            parts[what] = shared & created[what] if chosen is not None else shared - created[what]
        if any(parts.values()):
            findings.append(_finding(corpus, corpus, split, kind, _overlap(parts["speakers"], parts["speakers"]),
                                     _overlap(parts["sentences"], parts["sentences"])))
    return findings


def _finding(source: CorpusSplits, target: CorpusSplits, split: str, kind: str, speakers: Dict[str, Any],
             sentences: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "train": "{}/train".format(source.corpus),
        "evaluation": "{}/{}".format(target.corpus, split),
        "kind": kind,
        "shared_speakers": speakers,
        "shared_sentences": sentences,
    }


def leakage(corpora: List[CorpusSplits]) -> Dict[str, Any]:
    """Every (train set, dev/test set) pair that shares speakers or sentences, classified."""
    findings: List[Dict[str, Any]] = []
    for source in corpora:
        for target in corpora:
            for split in EVALUATION_SPLITS:
                same = source.corpus == target.corpus
                if same and source.mixed:
                    findings.extend(_mixed_findings(source, split))
                    continue
                sentences = _overlap(source.sentences["train"], target.sentences[split])
                speakers = (
                    _overlap(source.speakers["train"], target.speakers[split])
                    if same and source.has_speakers
                    else {"count": 0, "examples": []}
                )
                if not sentences["count"] and not speakers["count"]:
                    continue
                kind = "across_corpora" if not same else ("inherited" if source.official else "created")
                findings.append(_finding(source, target, split, kind, speakers, sentences))
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
    inherited = report.get("warm_start")
    if inherited:
        lines.append("Against the warm-start model's train set ({}): {}".format(inherited["train_set"], ", ".join(
            "{} {}".format(inherited[k]["count"], k) for k in ("clips", "sentences", "speakers"))))
        lines.append("")
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


def _evaluation_sets(data_dir: Path) -> Dict[str, Set[Any]]:
    """Clips (corpus, path), sentences and speakers (corpus, id) of every imported dev/test set."""
    found: Dict[str, Set[Any]] = {"clips": set(), "sentences": set(), "speakers": set()}
    for split in EVALUATION_SPLITS:
        for path in sorted(data_dir.glob("*/*_{}.csv".format(split))):
            with open(path, encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    found["clips"].add((path.parent.name, row["wav_filename"]))
                    found["sentences"].add(row["transcript"])
    for corpus in load_corpora(data_dir):
        if corpus.has_speakers:
            folder = next((p.parent.name for p in data_dir.glob("*/{}_manifest.tsv".format(corpus.corpus))), corpus.corpus)
            found["speakers"].update((folder, s) for split in EVALUATION_SPLITS for s in corpus.speakers[split])
    return found


def warm_start_leakage(data_dir: Path, previous_train_set: Path) -> Dict[str, Any]:
    """What of the new dev/test sets the warm-started-from model trained on: clips, sentences, speakers."""
    from stt_tasks.training.warm_start import read_train_set

    trained = read_train_set(previous_train_set)
    seen = {
        "clips": {(r["corpus"], r["clip"]) for r in trained},
        "sentences": {r["transcript"] for r in trained},
        "speakers": {(r["corpus"], r["speaker"]) for r in trained if r["speaker"]},
    }
    evaluation = _evaluation_sets(data_dir)
    shown = {"clips": lambda c: "/".join(c), "sentences": str, "speakers": lambda s: "{}:{}".format(*s)}
    found: Dict[str, Any] = {"train_set": str(previous_train_set)}
    for kind in ("clips", "sentences", "speakers"):
        shared = sorted(shown[kind](x) for x in evaluation[kind] & seen[kind])
        found[kind] = {"count": len(shared), "examples": shared[:EXAMPLES]}
    return found


def write_leakage_report(data_root: DataRoot, warm_start: str = "none") -> Dict[str, Any]:
    """Write ``reports/leakage.{json,txt}``; raise LeakageError when our own splits leak, or (``warm_start``
    ``previous``) when the new dev/test sets share clips, sentences or speakers with the previous model's train set."""
    from stt_tasks.training.warm_start import FROM_PREVIOUS, TRAIN_SET, previous_dir

    corpora = load_corpora(data_root.data)
    report = leakage(corpora)
    previous_set = previous_dir(data_root.models) / TRAIN_SET
    if warm_start == FROM_PREVIOUS and previous_set.is_file():
        report["warm_start"] = warm_start_leakage(data_root.data, previous_set)
    json_path = data_root.reports / "leakage.json"
    text_path = data_root.reports / "leakage.txt"
    write_json_atomic(json_path, report)
    write_text_atomic(text_path, leakage_text(report))
    LOG.info("\n%s", leakage_text(report))
    inherited = report.get("warm_start") or {}
    leaked = {kind: inherited[kind] for kind in ("clips", "sentences", "speakers") if inherited.get(kind, {}).get("count")}
    if leaked:
        raise LeakageError(
            "the new dev/test sets hold what the warm-start model ({}) trained on: {}. Warm-starting from it would "
            "test it on its own training data: import with the same release chain (splits never move), or set "
            "warm_start to none.".format(inherited["train_set"], "; ".join(
                "{} {} (e.g. {})".format(found["count"], kind, ", ".join(found["examples"][:5]))
                for kind, found in leaked.items())))
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
        "warm_start": report.get("warm_start"),
    }
