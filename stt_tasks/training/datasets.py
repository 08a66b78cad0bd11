"""The CSVs a training step reads: every ``*train.csv`` / ``*dev.csv`` / ``*test.csv`` under ``extracted/data``.

Same discovery as the original image's ``find /mnt/extracted/data -name '*train.csv'``, shared with the
alphabet step (``stt_tasks.alphabet.find_csvs``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from stt_tasks.alphabet import find_csvs
from stt_tasks.errors import BadInputError
from stt_tasks.fsio import file_fingerprint
from stt_tasks.layout import DataRoot


def split_csvs(root: DataRoot, split: str) -> List[Path]:
    """Every CSV of ``split`` (train, dev or test) under ``extracted/data``."""
    return [p for p in find_csvs(root.data) if p.name.endswith(split + ".csv")]


def require_csvs(root: DataRoot, split: str) -> List[Path]:
    """The CSVs of ``split``; none is an error naming the importers."""
    csvs = split_csvs(root, split)
    if not csvs:
        raise BadInputError("no *{}.csv under {}: run an importer first.".format(split, root.data))
    return csvs


def read_rows(csv_path: Path) -> List[Dict[str, str]]:
    """The rows of a Coqui CSV, checked for its header."""
    with open(csv_path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"wav_filename", "transcript"} <= set(reader.fieldnames):
            raise BadInputError("{}: header {} is not wav_filename,wav_filesize,transcript; re-run its importer."
                                .format(csv_path, reader.fieldnames))
        return list(reader)


def fingerprints(paths: List[Path]) -> List[Dict[str, Any]]:
    """Paths, sizes and hashes: what a completion marker records of its input CSVs."""
    return [file_fingerprint(p) for p in paths]


def wav_path(csv_path: Path, wav_filename: str) -> str:
    """A CSV row's WAV as an absolute path (coqui resolves relative names against the CSV's folder)."""
    path = Path(wav_filename)
    return str(path if path.is_absolute() else (csv_path.parent / path).absolute())


def wav_paths(csv_path: Path) -> List[str]:
    return [wav_path(csv_path, r["wav_filename"]) for r in read_rows(csv_path)]


def check_clips_exist(csvs: List[Path]) -> int:
    """Every WAV the CSVs name exists; returns the number of clips.

    Checked before coqui starts: a missing file fails inside coqui's tf.data pipeline, where the
    process can hang instead of exiting.
    """
    total = 0
    for csv_path in csvs:
        for line, row in enumerate(read_rows(csv_path), start=2):
            wav = Path(wav_path(csv_path, row["wav_filename"]))
            if not wav.is_file():
                raise BadInputError("{} line {}: clip {} does not exist. Re-run this corpus's importer, or fix the "
                                    "path (relative paths are relative to the CSV's folder).".format(
                                        csv_path, line, wav))
            total += 1
    return total


@dataclass(frozen=True)
class TrainingData:
    """What a training reads: every train and dev CSV, and the alphabet their transcripts are encoded with."""

    train_csvs: List[Path]
    dev_csvs: List[Path]
    alphabet: Path


def training_data(root: DataRoot, alphabet: Optional[Path] = None) -> TrainingData:
    """The train and dev CSVs under ``extracted/data`` and the alphabet (default: the alphabet step's), checked."""
    train_csvs = require_csvs(root, "train")
    dev_csvs = require_csvs(root, "dev")
    alphabet = alphabet or root.alphabet
    if not alphabet.is_file():
        raise BadInputError("{} is missing: run the alphabet step first.".format(alphabet))
    return TrainingData(train_csvs, dev_csvs, alphabet)
