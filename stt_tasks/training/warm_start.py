"""Warm-start retraining: fine-tune from the model of the last successful run.

Artifacts flow forward only:

1. the train step writes the train set it trained on (``train_set.tsv``: corpus, clip, speaker,
   transcript of every training clip; :func:`write_train_set`) and names it in ``training.json``;
2. the keep-model step, after package, links the package step's ``checkpoint_<lang>.tar.xz`` (the
   best dev checkpoint) and copies ``training.json`` and its train set into ``models/previous/`` with a
   ``lineage.json`` (:func:`keep_model`): its own folder, replaced as a whole, never a file another
   step wrote;
3. a later run with ``warm_start=previous`` reads ``models/previous/``: the train step unpacks the
   checkpoint under ``tmp/`` and fine-tunes from it (:func:`previous_model`), and the leakage step
   checks the new dev/test sets against ``train_set.tsv``.

Pure standard library.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import (CompletionMarker, atomic_directory, file_fingerprint, sha256_file, write_json_atomic,
                            write_text_atomic)
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG

PREVIOUS = "previous"
LINEAGE = "lineage.json"
TRAIN_SET = "train_set.tsv"
TRAIN_SET_HEADER = ("corpus", "clip", "speaker", "transcript")
NONE, FROM_PREVIOUS = "none", "previous"


def previous_dir(models: Path) -> Path:
    """``models/previous/``: the model of the last successful run (written by the DAG's last task)."""
    return models / PREVIOUS


def _manifest_speakers(train_csv: Path) -> List[str]:
    """The speakers of a corpus's train CSV rows, in row order, from its import manifest ("" if unknown)."""
    corpus = train_csv.name[: -len("_train.csv")] if train_csv.name.endswith("_train.csv") else ""
    manifest = train_csv.parent / "{}_manifest.tsv".format(corpus)
    if not corpus or not manifest.is_file():
        return []
    with open(manifest, encoding="utf-8") as handle:
        next(handle, None)
        # the engine writes the manifest's rows of a split in the order of that split's CSV rows
        return [fields[2] for fields in (line.rstrip("\n").split("\t") for line in handle) if fields[0] == "train"]


def train_set_rows(train_csvs: Sequence[Path]) -> Iterator[Tuple[str, str, str, str]]:
    """(corpus folder, clip path in it, speaker, transcript) of every training clip."""
    for train_csv in train_csvs:
        with open(train_csv, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        speakers = _manifest_speakers(train_csv)
        if len(speakers) != len(rows):
            speakers = [""] * len(rows)
        for row, speaker in zip(rows, speakers):
            yield train_csv.parent.name, row["wav_filename"], speaker, row["transcript"]


def write_train_set(target: Path, train_csvs: Sequence[Path]) -> Path:
    """Write what a model trained on (so that a later warm start can be checked for leakage)."""
    lines = ["\t".join(TRAIN_SET_HEADER)] + ["\t".join(" ".join(v.split()) for v in row)
                                              for row in train_set_rows(train_csvs)]
    write_text_atomic(target, "\n".join(lines) + "\n")
    return target


def read_train_set(path: Path) -> List[Dict[str, str]]:
    """The rows of a ``train_set.tsv``."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header != list(TRAIN_SET_HEADER):
            raise BadInputError("{} line 1: not a train set ({} expected); run the train step again."
                                .format(path, ", ".join(TRAIN_SET_HEADER)))
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in handle if line.strip()]


def keep_model(root: DataRoot, checkpoint_archive: Optional[Path], training_json: Optional[Path],
               release_report: Optional[Path], run_id: str) -> Dict[str, Any]:
    """The keep-model step: this run's model into ``models/previous/``, where a later ``warm_start=previous``
    fine-tunes from it; nothing to do when it already holds this very model (a run that trained nothing new
    keeps the lineage of the run that did)."""
    for given, what in ((checkpoint_archive, "the package step's checkpoint archive"),
                        (training_json, "the train step's training.json")):
        if given is None or not given.is_file():
            raise BadInputError("{} is missing ({}): run the train and package steps first.".format(what, given))
    assert checkpoint_archive is not None and training_json is not None
    folder = previous_dir(root.models)
    inputs = {"checkpoint_archive": file_fingerprint(checkpoint_archive),
              "training": file_fingerprint(training_json)}
    marker = CompletionMarker(folder, ".keep-model.completed.json")
    if marker.is_current(inputs):
        LOG.info("%s already holds this model (%s): nothing to do", folder, marker.outputs().get("run"))
        return dict(marker.outputs(), skipped=True)
    run = dict(run_id=run_id, **_release_of(release_report))
    lineage = record_previous(root.models, checkpoint_archive, training_json, run)
    result = {"previous": str(folder), "run": run, "lineage": lineage["lineage"]}
    marker.write(inputs, [folder / LINEAGE, folder / checkpoint_archive.name], result)
    return dict(result, skipped=False)


def _release_of(release_report: Optional[Path]) -> Dict[str, Any]:
    """The Common Voice release (and its chain of deltas) the Common Voice import's report names."""
    report = json.loads(release_report.read_text(encoding="utf-8")) if release_report and release_report.is_file() \
        else {}
    release = report.get("release") or {}
    chain = [link.get("release") for link in release.get("chain") or [] if isinstance(link, dict)]
    return {"release": release.get("release"), "chain": chain or ([release["release"]] if release.get("release")
                                                                   else [])}


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows it (a checkpoint archive is large; its producer replaces it
    by rename, never in place, so the link keeps this run's bytes), else a copy."""
    try:
        os.link(str(source), str(target))
    except OSError:
        shutil.copyfile(str(source), str(target))


def record_previous(models: Path, checkpoint_archive: Path, training_json: Path,
                    run: Mapping[str, Any]) -> Dict[str, Any]:
    """Put a successful run's model into ``models/previous/`` (replacing the one before); return its lineage.

    ``run`` identifies the run (run id, release, chain of releases). The lineage is the warm-start
    source's lineage (from ``training.json``) followed by this run: every run and release the model
    descends from. The train set is the one ``training.json`` names.
    """
    training = json.loads(training_json.read_text(encoding="utf-8"))
    train_set = Path(training["train_set"]) if training.get("train_set") else None
    if train_set is not None and not train_set.is_absolute():
        train_set = training_json.parent / train_set
    ancestors = list((training.get("warm_start") or {}).get("lineage") or [])
    lineage = {"run": dict(run), "lineage": ancestors + [dict(run)]}
    with atomic_directory(previous_dir(models)) as scratch:
        _link_or_copy(checkpoint_archive, scratch / checkpoint_archive.name)
        shutil.copyfile(str(training_json), str(scratch / "training.json"))
        if train_set is not None and train_set.is_file():
            shutil.copyfile(str(train_set), str(scratch / TRAIN_SET))
        write_json_atomic(scratch / LINEAGE, dict(lineage, checkpoint_archive=checkpoint_archive.name))
    return lineage


@dataclass(frozen=True)
class PreviousModel:
    """The model of the last successful run, unpacked: where its checkpoint is and what it descends from."""

    folder: Path
    checkpoint_dir: Path
    lineage: List[Dict[str, Any]]
    train_set: Optional[Path]
    n_hidden: Optional[int]


def previous_model(models: Path, scratch: Path) -> Optional[PreviousModel]:
    """``models/previous/`` with its checkpoint unpacked under ``scratch`` (once); None when there is none."""
    folder = previous_dir(models)
    lineage_path = folder / LINEAGE
    if not lineage_path.is_file():
        return None
    lineage = json.loads(lineage_path.read_text(encoding="utf-8"))
    archive = folder / lineage["checkpoint_archive"]
    if not archive.is_file():
        raise BadInputError("{} is missing: {} names it; the last successful run's record is incomplete, run the "
                            "training DAG's record_release again or set warm_start to none.".format(archive, lineage_path))
    target = scratch / "warm-start"
    digest = sha256_file(archive)
    marker = CompletionMarker(scratch, ".warm-start.unpacked.json")
    if not (marker.is_current({"archive": digest}) and target.is_dir()):
        with atomic_directory(target) as unpacked, tarfile.open(str(archive), "r:*") as tar:
            for member in tar.getmembers():
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise BadInputError("{}: unexpected member {!r}; a checkpoint archive holds plain files only."
                                        .format(archive, member.name))
            tar.extractall(str(unpacked))
        marker.write({"archive": digest}, [], {})
    training = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    train_set = folder / TRAIN_SET
    return PreviousModel(folder, target, list(lineage.get("lineage") or []),
                         train_set if train_set.is_file() else None, training.get("n_hidden"))


def warm_parameters(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The train parameters of a warm-started training: its own epochs and learning rate."""
    return dict(params, epochs=params["warm_start_epochs"], learning_rate=params["warm_start_learning_rate"])


_OWN_CHECKPOINT_NAMES = ("checkpoint", "best_dev_checkpoint")
_OWN_CHECKPOINT_PREFIXES = ("train-", "best_dev-")


def forget_own_checkpoints(checkpoints: Path) -> None:
    """Remove the train step's checkpoints of an earlier training (its own files) before a warm start:
    coqui must load the previous run's best checkpoint, not the last one left here."""
    if not checkpoints.is_dir():
        return
    for entry in checkpoints.iterdir():
        if entry.is_file() and (entry.name in _OWN_CHECKPOINT_NAMES or entry.name.startswith(_OWN_CHECKPOINT_PREFIXES)):
            entry.unlink()
