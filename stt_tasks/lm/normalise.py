"""LM text normalisation: the transcripts' label rules applied to every line, on every core.

The scorer's vocabulary must be spelt as the transcripts are (same alphabet, same lower case, same
spelled-out symbols), so each line goes through the language pack's label rules; a line the
rules reject is dropped whole, as a transcript would be. KenLM's reserved tokens are removed first.
Unlike the original pipeline, a line equal to a dev or test transcript is dropped by default, so
the LM never scores test sentences it was trained on.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Deque, Dict, FrozenSet, Iterable, List, Tuple

from stt_tasks.alphabet import find_csvs
from stt_tasks.errors import BadInputError
from stt_tasks.languages import LanguagePack, load_language

# KenLM refuses its own markers in training text; the original replaced them with a space.
_RESERVED = re.compile(r"</?s>|<unk>", re.IGNORECASE)
EVALUATION_SPLITS = ("dev", "test")


@dataclass
class NormaliseStats:
    """Line counts of one normalisation run, for the report."""

    lines: int = 0
    kept: int = 0
    rejected: int = 0
    evaluation_removed: int = 0

    def add(self, other: "NormaliseStats") -> None:
        for name in ("lines", "kept", "rejected", "evaluation_removed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class EvaluationTranscripts:
    """Normalised dev and test transcripts, and the CSVs they come from."""

    dev: Tuple[str, ...]
    excluded: FrozenSet[str]
    csvs: Tuple[Path, ...] = field(default=())


def evaluation_transcripts(data_dir: Path, pack: LanguagePack, english_compatible: bool) -> EvaluationTranscripts:
    """Transcripts of every ``*dev.csv`` and ``*test.csv`` under ``data_dir``, normalised like LM text."""
    csvs = tuple(p for p in find_csvs(data_dir) if p.name.endswith(tuple(s + ".csv" for s in EVALUATION_SPLITS)))
    dev: List[str] = []
    excluded = set()
    for path in csvs:
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                if not reader.fieldnames or "transcript" not in reader.fieldnames:
                    raise BadInputError(
                        "{}: no 'transcript' column. Re-run the importer that wrote it.".format(path)
                    )
                for row in reader:
                    transcript = pack.validate_label(row["transcript"] or "", english_compatible)
                    if transcript is None:
                        continue
                    excluded.add(transcript)
                    if path.name.endswith("dev.csv"):
                        dev.append(transcript)
        except UnicodeDecodeError as error:
            raise BadInputError("{}: not UTF-8 ({}). Re-run the importer that wrote it.".format(path, error))
    return EvaluationTranscripts(dev=tuple(dev), excluded=frozenset(excluded), csvs=csvs)


def normalise_block(
    block: bytes, pack: LanguagePack, english_compatible: bool, excluded: FrozenSet[str]
) -> Tuple[str, NormaliseStats]:
    """Normalised lines of a block of raw text (joined, each ending with a newline) and counts."""
    stats = NormaliseStats()
    kept: List[str] = []
    lines = _RESERVED.sub(" ", block.decode("utf-8", errors="replace")).splitlines()
    stats.lines = len(lines)
    for label in pack.validate_labels(lines, english_compatible):
        if label is None:
            stats.rejected += 1
        elif label in excluded:
            stats.evaluation_removed += 1
        else:
            kept.append(label)
    stats.kept = len(kept)
    return "\n".join(kept) + "\n" if kept else "", stats


# Worker state, set once per process: the pack and the excluded sentences are not re-sent per block.
_WORKER: Dict[str, object] = {}


def _init_worker(language: str, english_compatible: bool, excluded: FrozenSet[str]) -> None:
    _WORKER.update(pack=load_language(language), english_compatible=english_compatible, excluded=excluded)


def _normalise_in_worker(block: bytes) -> Tuple[str, NormaliseStats]:
    return normalise_block(
        block,
        _WORKER["pack"],  # type: ignore[arg-type]
        bool(_WORKER["english_compatible"]),
        _WORKER["excluded"],  # type: ignore[arg-type]
    )


def normalise_stream(
    blocks: Iterable[bytes],
    pack: LanguagePack,
    english_compatible: bool,
    excluded: FrozenSet[str],
    sink: Callable[[str], None],
    workers: int,
) -> NormaliseStats:
    """Normalise ``blocks`` on ``workers`` processes and hand the results to ``sink`` in input order.

    At most two blocks per worker are in flight, so memory stays flat whatever the input size.
    """
    total = NormaliseStats()

    def collect(future: "Future[Tuple[str, NormaliseStats]]") -> None:
        text, stats = future.result()
        total.add(stats)
        if text:
            sink(text)

    setup = (pack.code, english_compatible, excluded)
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=setup) as pool:
        pending: Deque["Future[Tuple[str, NormaliseStats]]"] = deque()
        for block in blocks:
            pending.append(pool.submit(_normalise_in_worker, block))
            if len(pending) >= 2 * workers:
                collect(pending.popleft())
        while pending:
            collect(pending.popleft())
    return total


def top_words(counts: "Counter[str]", top_k: int) -> List[str]:
    """The ``top_k`` most frequent words, most frequent first, ties in first-seen order."""
    return [word for word, _ in counts.most_common(top_k)]
