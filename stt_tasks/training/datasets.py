"""The CSVs a training step reads: every ``*train.csv`` / ``*dev.csv`` / ``*test.csv`` under ``extracted/data``.

Same discovery as the original image's ``find /mnt/extracted/data -name '*train.csv'``, shared with the
alphabet step (``stt_tasks.alphabet.find_csvs``). Before coqui reads them, the train step leaves out the
clips CTC cannot align (``alignable_data``): a hand-written CSV may hold one the importers' rule would
have dropped, and a single one stops the training on every try.
"""

from __future__ import annotations

import csv
import hashlib
import wave
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from stt_tasks.alphabet import find_csvs
from stt_tasks.ctc import COQUI_FEATURES, FeatureWindow, frames_needed
from stt_tasks.errors import BadInputError
from stt_tasks.fsio import file_fingerprint, write_text_if_changed
from stt_tasks.importers.engine import csv_text
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG


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


def _existing_clips(csv_path: Path) -> Iterator[Tuple[int, Dict[str, str], Path]]:
    """(line, row, absolute WAV path) of each row; a missing WAV is a bad input naming the line."""
    for line, row in enumerate(read_rows(csv_path), start=2):
        wav = Path(wav_path(csv_path, row["wav_filename"]))
        if not wav.is_file():
            raise BadInputError("{} line {}: clip {} does not exist. Re-run this corpus's importer, or fix the "
                                "path (relative paths are relative to the CSV's folder).".format(csv_path, line, wav))
        yield line, row, wav


def check_clips_exist(csvs: List[Path]) -> int:
    """Every WAV the CSVs name exists; returns the number of clips.

    Checked before coqui starts: a missing file fails inside coqui's tf.data pipeline, where the
    process can hang instead of exiting.
    """
    return sum(1 for csv_path in csvs for _ in _existing_clips(csv_path))


def unalignable_reason(wav: Path, transcript: str, window: FeatureWindow = COQUI_FEATURES) -> Optional[str]:
    """Why coqui's CTC loss cannot take this clip (too few feature frames, unreadable header), or None.

    Read from the WAV header (its sample count), so checking a corpus costs no decoding.
    """
    try:
        with wave.open(str(wav), "rb") as clip:
            samples = clip.getnframes()
    except (wave.Error, EOFError, OSError) as error:
        return "unreadable WAV header ({})".format(error)
    available, needed = window.frames(samples), frames_needed(transcript)
    if available < needed:
        return "too short for CTC: {} feature frames, its {}-character transcript needs {}".format(
            available, len(transcript), needed)
    return None


@dataclass(frozen=True)
class AlignableCsvs:
    """Copies of one split's CSVs that coqui can train on: the clips CTC cannot align left out."""

    csvs: List[Path]
    clips: int
    #: the WAVs left out, with the reason
    skipped: List[Tuple[str, str]] = field(default_factory=list)


def alignable_csvs(csvs: List[Path], directory: Path, window: FeatureWindow = COQUI_FEATURES) -> AlignableCsvs:
    """Write, under ``directory``, each CSV without its unalignable clips; the importers' CSVs stay as they are.

    The copies name WAVs by absolute path (they live elsewhere than the originals) and are rewritten
    only when their content changes.
    """
    copies, kept, skipped = [], 0, []
    directory.mkdir(parents=True, exist_ok=True)
    for csv_path in csvs:
        rows = []
        for line, row, wav in _existing_clips(csv_path):
            reason = unalignable_reason(wav, row["transcript"], window)
            if reason:
                LOG.warning("leaving out %s (%s line %d): %s", wav, csv_path, line, reason)
                skipped.append((str(wav), reason))
                continue
            rows.append((str(wav), int(row.get("wav_filesize") or wav.stat().st_size), row["transcript"]))
        kept += len(rows)
        # Named by the original's path: two corpora may have CSVs of the same name.
        copy = directory / "{}-{}".format(hashlib.sha256(str(csv_path).encode("utf-8")).hexdigest()[:8], csv_path.name)
        write_text_if_changed(copy, csv_text(rows))
        copies.append(copy)
    return AlignableCsvs(copies, kept, skipped)


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


@dataclass(frozen=True)
class AlignableData:
    """What coqui trains on (filtered copies under ``tmp/``) and how many clips each split left out."""

    data: TrainingData
    train: AlignableCsvs
    dev: AlignableCsvs

    @property
    def skipped_clips(self) -> Dict[str, int]:
        return {"train": len(self.train.skipped), "dev": len(self.dev.skipped)}


def alignable_data(data: TrainingData, directory: Path) -> AlignableData:
    """``data`` with every CSV replaced by a copy without the clips CTC cannot align; a split left empty is an error.

    coqui stops the whole training on the first batch holding such a clip, so none may reach it.
    """
    train = alignable_csvs(data.train_csvs, directory / "train")
    dev = alignable_csvs(data.dev_csvs, directory / "dev")
    for split, checked, originals in (("train", train, data.train_csvs), ("dev", dev, data.dev_csvs)):
        if checked.skipped:
            LOG.warning("%d %s clips left out: CTC cannot align them (see above); the importers drop such clips, "
                        "so a CSV written by hand holds them", len(checked.skipped), split)
        if not checked.clips:
            raise BadInputError("no {} clip of {} can be trained on (all too short for their transcripts or "
                                "unreadable): re-run the importers, or fix those CSVs.".format(
                                    split, ", ".join(str(p) for p in originals)))
    return AlignableData(replace(data, train_csvs=train.csvs, dev_csvs=dev.csvs), train, dev)
