"""Common Voice release N+k from release N and the deltas after it: clips and metadata merged, new clips split.

Each link of the chain (:class:`~stt_tasks.importers.cv_release.ReleaseChain`) is verified and
extracted once under ``extracted/releases/`` like a full release, and its clips are read there in
place (a path per clip: the 30 GB of a full release are never copied). The full release's
train/dev/test give its clips' splits; then, delta by delta, the clips a delta invalidates
(``invalidated.tsv``) are dropped wherever they came from, and the clips of its ``validated.tsv``
are placed by its own split TSVs when it has them, else by :mod:`stt_tasks.importers.delta_split`.
``other.tsv`` is not merged: its clips reach ``validated.tsv`` of a later delta when validated, and
their audio is then found in the release that published it.

The plan is made before the import engine runs, so its summary (clips each delta added to each
split, invalidated, left out) is part of what identifies the import and is reported in its result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from stt_tasks.errors import BadInputError
from stt_tasks.importers.delta_split import DeltaClip, SplitState
from stt_tasks.importers.records import OFFICIAL, SPLITS, ClipRecord, SourceIssues
from stt_tasks.importers.tsv import read_tsv

#: who chose a delta clip's split when the delta has no split TSVs (the manifest's ``assigned``)
DELTA_ASSIGNED = "delta"
REQUIRED_COLUMNS = ("client_id", "path", "sentence")
Labeller = Callable[[List[str]], List[Optional[str]]]


@dataclass(frozen=True)
class ChainLink:
    """One extracted release of the chain: its file name and its ``<lang>/`` folder."""

    name: str
    language_dir: Path


@dataclass(frozen=True)
class _Row:
    clip: DeltaClip
    sentence: str
    link: ChainLink
    origin: str


@dataclass
class ChainPlan:
    """Every clip of the merged release with its split and who chose it, and what each delta did."""

    rows: Dict[str, _Row] = field(default_factory=dict)
    split_by: Dict[str, str] = field(default_factory=dict)
    state: SplitState = field(default_factory=SplitState)
    deltas: List[Dict[str, Any]] = field(default_factory=list)
    clip_folders: Dict[str, Path] = field(default_factory=dict)

    def records(self) -> Iterator[ClipRecord]:
        """The merged release's clips, for the import engine."""
        for name, split in sorted(self.state.split_of.items()):
            row = self.rows[name]
            folder = self.clip_folders.get(name, row.link.language_dir / "clips")
            file_name = name if "." in name else name + ".mp3"
            yield ClipRecord(audio=folder / file_name, transcript=row.sentence, speaker=row.clip.speaker,
                             clip_id="clips/" + file_name.rsplit(".", 1)[0], origin=row.origin, split=split,
                             split_by=self.split_by[name])


def _read_rows(link: ChainLink, table: str, labels: Labeller, issues: SourceIssues) -> List[_Row]:
    """The rows of ``<table>.tsv`` of a link (none when the file is absent), with sentence labels."""
    path = link.language_dir / "{}.tsv".format(table)
    if not path.is_file():
        return []
    raw = [(number, row) for number, row in read_tsv(path, REQUIRED_COLUMNS, issues)]
    sentences = [" ".join(row["sentence"].split()) for _number, row in raw]
    # A sentence the rules reject is dropped by the engine later; meanwhile it is its own sentence.
    valid = labels(sentences)
    return [
        _Row(DeltaClip(row["path"], row["client_id"], label or "\0" + sentence), row["sentence"], link,
             "{}/{}.tsv line {}".format(link.name, table, number))
        for (number, row), sentence, label in zip(raw, sentences, valid)
    ]


def _clip_names(link: ChainLink) -> List[str]:
    clips = link.language_dir / "clips"
    return [entry.name for entry in os.scandir(clips)] if clips.is_dir() else []


def _find_clip_folders(links: Sequence[ChainLink], plan: ChainPlan) -> None:
    """Where each clip's audio is: a clip validated in a later delta may have been published earlier."""
    for link in links:  # oldest first: a newer link's copy wins
        folder = link.language_dir / "clips"
        for name in _clip_names(link):
            plan.clip_folders[name] = folder


def plan_chain(links: Sequence[ChainLink], labels: Labeller, issues: SourceIssues,
               max_per_sentence: int = 1) -> ChainPlan:
    """The merged release of ``links`` (the full release, then each delta, oldest first)."""
    plan = ChainPlan()
    base, deltas = links[0], links[1:]
    for split in SPLITS:
        if not (base.language_dir / "{}.tsv".format(split)).is_file():
            raise BadInputError("{}/{}.tsv is missing: the release is incomplete, extract or download it again."
                                .format(base.language_dir, split))
        rows = _read_rows(base, split, labels, issues)
        _remember(plan, rows, OFFICIAL)
        plan.state.place_official((row.clip, split) for row in rows)
    plan.state.freeze_shares()
    for delta in deltas:
        plan.deltas.append(_add_delta(plan, delta, labels, issues, max_per_sentence))
    _find_clip_folders(links, plan)
    return plan


def _remember(plan: ChainPlan, rows: Sequence[_Row], split_by: str) -> None:
    for row in rows:
        if row.clip.name not in plan.rows:
            plan.rows[row.clip.name] = row
            plan.split_by[row.clip.name] = split_by


def _add_delta(plan: ChainPlan, delta: ChainLink, labels: Labeller, issues: SourceIssues,
               max_per_sentence: int) -> Dict[str, Any]:
    """Apply one delta: its invalidations, then its validated clips; return what it did."""
    invalidated = plan.state.invalidate(row.clip.name for row in _read_rows(delta, "invalidated", labels, issues))
    validated = [row for row in _read_rows(delta, "validated", labels, issues) if row.clip.name not in plan.state.split_of]
    own = {split: _read_rows(delta, split, labels, issues) for split in SPLITS
           if (delta.language_dir / "{}.tsv".format(split)).is_file()}
    summary: Dict[str, Any] = {"release": delta.name, "invalidated": len(invalidated)}
    if own:
        for rows in own.values():
            _remember(plan, rows, OFFICIAL)
        placed = [(row.clip, split) for split, rows in own.items() for row in rows]
        summary.update(splits_from="the delta's own split TSVs", added=plan.state.place_official(placed),
                       left_out={})
    else:
        _remember(plan, validated, DELTA_ASSIGNED)
        added, left_out = plan.state.assign([row.clip for row in validated], max_per_sentence)
        summary.update(splits_from="assigned (no split TSVs in the delta)", added=added, left_out=left_out)
    summary["validated"] = len(validated)
    return summary


def summary_text(deltas: Sequence[Dict[str, Any]]) -> List[str]:
    """One line per delta: the clips it added to each split (for the log)."""
    return [
        "{}: +{} train, +{} dev, +{} test; {} invalidated; {} left out ({})".format(
            d["release"], d["added"]["train"], d["added"]["dev"], d["added"]["test"], d["invalidated"],
            sum(d["left_out"].values()), d["splits_from"])
        for d in deltas
    ]


def chain_records(plan: ChainPlan, planning_issues: SourceIssues) -> Callable[[SourceIssues], Iterator[ClipRecord]]:
    """The engine's ``records`` callback for a planned chain: the TSVs were read while planning, so the
    bad rows met then are handed to the engine's report."""
    def records(issues: SourceIssues) -> Iterator[ClipRecord]:
        issues.counts.update(planning_issues.counts)
        for reason, examples in planning_issues.examples.items():
            issues.examples.setdefault(reason, []).extend(examples)
        return plan.records()

    return records


