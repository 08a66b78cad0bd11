"""The alphabet step: every character of the imported transcripts, in Coqui's format.

Coqui reads one label per line, a single-space line for the space, ``\\#`` for a literal ``#``
(lines starting with ``#`` are comments). The order is code-point order, as the original
``sort``-based script produced, so the same transcripts always give the same file.
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path
from typing import Any, Dict, Iterable, List, Set

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import write_text_atomic
from stt_tasks.languages import ENGLISH_ALPHABET, LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG

CSV_SUFFIXES = ("train.csv", "dev.csv", "test.csv")


def find_csvs(data_dir: Path) -> List[Path]:
    """Every CSV the training will read: names ending in train/dev/test.csv, at any depth."""
    return sorted(p for p in data_dir.rglob("*.csv") if p.name.endswith(CSV_SUFFIXES) and p.is_file())


def alphabet_line(char: str) -> str:
    return "\\#" if char == "#" else char


def alphabet_text(labels: Iterable[str]) -> str:
    return "".join(alphabet_line(c) + "\n" for c in labels)


def transcript_characters(csv_path: Path, allowed: Set[str]) -> Set[str]:
    """Characters of a CSV's transcripts; a character outside ``allowed`` is an error."""
    seen: Set[str] = set()
    try:
        with open(csv_path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "transcript" not in reader.fieldnames:
                raise BadInputError(
                    "{}: no 'transcript' column (header: {}). Coqui CSVs have the header "
                    "wav_filename,wav_filesize,transcript.".format(csv_path, reader.fieldnames)
                )
            for row in reader:
                transcript = row["transcript"] or ""
                if unicodedata.normalize("NFKC", transcript) != transcript:
                    raise BadInputError(
                        "{} row {}: transcript {!r} is not NFKC-normalised. Re-run its importer, which "
                        "normalises labels.".format(csv_path, reader.line_num, transcript)
                    )
                chars = set(transcript)
                stray = sorted(chars - allowed)
                if stray:
                    raise BadInputError(
                        "{} row {}: transcript {!r} holds {} which the label rules should have removed. "
                        "Re-run this corpus's importer (it applies the label rules), or remove the "
                        "CSV if it does not come from an importer.".format(
                            csv_path,
                            reader.line_num,
                            transcript,
                            ", ".join("{!r} (U+{:04X})".format(c, ord(c)) for c in stray),
                        )
                    )
                seen |= chars
    except UnicodeDecodeError as error:
        raise BadInputError("{}: not UTF-8 ({}). Re-run its importer.".format(csv_path, error)) from None
    return seen


def build_alphabet(data_root: DataRoot, pack: LanguagePack, english_compatible: bool = False) -> Dict[str, Any]:
    """Write ``models/alphabet.txt`` from the imported CSVs; return the step's JSON result."""
    csvs = find_csvs(data_root.data)
    if not csvs:
        raise BadInputError(
            "no *train.csv, *dev.csv or *test.csv under {}: run an importer first.".format(data_root.data)
        )
    allowed = set(pack.allowed_characters(english_compatible))
    seen: Set[str] = set()
    for csv_path in csvs:
        seen |= transcript_characters(csv_path, allowed)
    if english_compatible:
        labels = list(ENGLISH_ALPHABET)
    else:
        labels = sorted(seen)
    target = data_root.alphabet
    text = alphabet_text(labels)
    previous = target.read_text(encoding="utf-8") if target.is_file() else None
    if previous != text:
        write_text_atomic(target, text)
    if previous is not None and previous != text:
        LOG.warning("%s changed: checkpoints trained with the previous alphabet need --drop_source_layers", target)
    LOG.info("alphabet of %d labels from %d CSV files: %s", len(labels), len(csvs), "".join(labels))
    return {
        "alphabet": str(target),
        "labels": len(labels),
        "characters": "".join(labels),
        "csv_files": [str(p) for p in csvs],
        "changed": previous is not None and previous != text,
    }
