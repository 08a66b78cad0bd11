"""LM text normalisation: the transcripts' label rules applied to every line, on every core.

The scorer's vocabulary must be spelt as the transcripts are (same alphabet, same lower case, same
spelled-out symbols), so each line goes through the language pack's label rules; a line the
rules reject is dropped whole, as a transcript would be. KenLM's reserved tokens are removed first.
Unlike the original pipeline, a line equal to a dev or test transcript is dropped by default, so
the LM never scores test sentences it was trained on.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import unicodedata
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, FrozenSet, Iterable, List, Mapping, Set, Tuple

from stt_tasks.alphabet import find_csvs
from stt_tasks.errors import BadInputError
from stt_tasks.fsio import json_digest
from stt_tasks.languages import ENGLISH_ALPHABET, LanguagePack, load_language
from stt_tasks.text.labels import LabelRules

# KenLM refuses its own markers in training text; the original replaced them with a space.
_RESERVED = re.compile(r"</?s>|<unk>", re.IGNORECASE)
EVALUATION_SPLITS = ("dev", "test")
#: Bumped when the code applying the rules (text/labels.py, :func:`normalise_block`,
#: ``LanguagePack.validate_labels``) changes what it makes of a line. The rule tables themselves
#: need no bump: :func:`rules_identity` records them.
RULES_ENGINE_VERSION = 1


@dataclass
class NormaliseStats:
    """Line counts of one normalisation run, for the report."""

    lines: int = 0
    kept: int = 0
    rejected: int = 0
    evaluation_removed: int = 0

    def add(self, other: "NormaliseStats") -> None:
        """Count ``other``'s lines too (the too-long transcripts into the whole text's counts)."""
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
    excluded: Set[str] = set()
    for path in csvs:
        transcripts = _valid_transcripts(path, pack, english_compatible)
        excluded.update(transcripts)
        if path.name.endswith("dev.csv"):
            dev.extend(transcripts)
    return EvaluationTranscripts(dev=tuple(dev), excluded=frozenset(excluded), csvs=csvs)


def _valid_transcripts(path: Path, pack: LanguagePack, english_compatible: bool) -> List[str]:
    """The transcripts of one importer CSV that pass the label rules, normalised."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "transcript" not in reader.fieldnames:
                raise BadInputError("{}: no 'transcript' column. Re-run the importer that wrote it.".format(path))
            labels = [pack.validate_label(row["transcript"] or "", english_compatible) for row in reader]
    except UnicodeDecodeError as error:
        raise BadInputError("{}: not UTF-8 ({}). Re-run the importer that wrote it.".format(path, error))
    return [label for label in labels if label is not None]


def rules_identity(pack: LanguagePack, english_compatible: bool) -> Dict[str, Any]:
    """What decides the normalised form of a line, for the lm step's marker: the pack's rule tables
    (a digest), KenLM's reserved tokens, the Unicode database NFKC follows (it changes with Python) and
    the engine's version; with ``english_compatible`` the ASCII tables too."""
    identity: Dict[str, Any] = {
        "language": pack.code,
        "label_rules": json_digest(rule_tables(pack.rules)),
        "reserved_tokens": _json_value(_RESERVED),
        "unicode": unicodedata.unidata_version,
        "engine": RULES_ENGINE_VERSION,
        "english_compatible": english_compatible,
    }
    if english_compatible:
        ascii_tables = {"transliterated": dict(pack.ascii_transliterated), "alphabet": list(ENGLISH_ALPHABET)}
        identity["ascii"] = json_digest(ascii_tables)
    return identity


def rule_tables(rules: LabelRules) -> Dict[str, Any]:
    """The rule tables as JSON values; the compiled forms (fields not compared) derive from them."""
    return {f.name: _json_value(getattr(rules, f.name)) for f in dataclasses.fields(rules) if f.compare}


def _json_value(value: Any) -> Any:
    if isinstance(value, re.Pattern):
        return {"pattern": value.pattern, "flags": value.flags}
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


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
    setup = (pack.code, english_compatible, excluded)
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=setup) as pool:
        pending: Deque["Future[Tuple[str, NormaliseStats]]"] = deque()
        for block in blocks:
            pending.append(pool.submit(_normalise_in_worker, block))
            if len(pending) >= 2 * workers:
                _collect(pending.popleft(), total, sink)
        while pending:
            _collect(pending.popleft(), total, sink)
    return total


def _collect(future: "Future[Tuple[str, NormaliseStats]]", total: NormaliseStats, sink: Callable[[str], None]) -> None:
    """Add a finished block's counts to ``total`` and hand its text on."""
    text, stats = future.result()
    total.add(stats)
    if text:
        sink(text)


def top_words(counts: "Counter[str]", top_k: int) -> List[str]:
    """The ``top_k`` most frequent words, most frequent first, ties in first-seen order."""
    return [word for word, _ in counts.most_common(top_k)]
