"""The LM text: the text sources normalised by the transcripts' label rules, dev/test sentences removed.

It is written to ``extracted/sources_lm.txt`` and, block by block as it is produced, handed to KenLM
(``feed``), so that estimating the LM overlaps with normalising the text; its words are counted on
the way for the vocabulary. :func:`identity` is what the lm step's marker records of it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import atomic_output, file_fingerprint
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm.normalise import (
    EvaluationTranscripts,
    NormaliseStats,
    evaluation_transcripts,
    normalise_stream,
    rules_identity,
)
from stt_tasks.lm.options import LmOptions
from stt_tasks.lm.sources import ResolvedSources, TextSource, read_blocks, resolve_sources, too_long_sources
from stt_tasks.progress import LOG, Progress


@dataclass(frozen=True)
class LmTextInputs:
    """What the LM text is made of: the text sources, the too-long transcripts (empty unless asked
    for) and the dev/test transcripts it must not contain."""

    resolved: ResolvedSources
    too_long: List[TextSource]
    evaluation: EvaluationTranscripts

    @property
    def sources(self) -> List[TextSource]:
        return self.resolved.sources


def find_inputs(root: DataRoot, pack: LanguagePack, options: LmOptions) -> LmTextInputs:
    """The LM text's inputs under ``root`` (a missing pack corpus is downloaded with ``download``)."""
    return LmTextInputs(
        resolved=resolve_sources(root.sources, pack, options.texts, options.download),
        too_long=too_long_sources(root.data) if options.add_too_long else [],
        evaluation=evaluation_transcripts(root.data, pack, options.english_compatible),
    )


def identity(pack: LanguagePack, options: LmOptions, inputs: LmTextInputs) -> Dict[str, Any]:
    """Everything that decides the LM text, as a marker records it: each input file's sha256, the
    normalisation rules, whether dev/test sentences are kept."""
    recorded: Dict[str, Any] = {
        "sources": [file_fingerprint(s.path) for s in inputs.sources],
        "evaluation_csvs": [file_fingerprint(p) for p in inputs.evaluation.csvs],
        "keep_eval_sentences": options.keep_eval_sentences,
        "normalisation": rules_identity(pack, options.english_compatible),
    }
    if options.add_too_long:
        # Only when on: off, a corpus imported since (a new too-long file) changes nothing.
        recorded["too_long"] = [file_fingerprint(s.path) for s in inputs.too_long]
    return recorded


class LmTextProgress(Progress):
    """Progress of the LM text: MB of the sources read (rate, ETA) and running counts of lines read and kept."""

    def __init__(self, total_bytes: int, interval: float = 5.0) -> None:
        super().__init__("LM text", total_bytes, "MB", interval=interval, scale=10**6)
        self.lines = 0
        self.kept = 0

    def count_lines(self, blocks: Iterable[bytes]) -> Iterator[bytes]:
        """``blocks`` (whole lines each), counting their lines as they are handed on."""
        for block in blocks:
            self.lines += block.count(b"\n")
            yield block

    def count_kept(self, text: str) -> None:
        """Count the lines of normalised text that passed the label rules."""
        self.kept += text.count("\n")

    def line(self, now: Optional[float] = None) -> str:
        return "{}, {} lines read, {} kept".format(super().line(now), self.lines, self.kept)


@dataclass
class LmText:
    """What the written LM text holds: line counts (of everything, and of the too-long transcripts)
    and how often each word occurs."""

    stats: NormaliseStats
    too_long: NormaliseStats
    words: "Counter[str]"


class _Sink:
    """Where each normalised block goes: the LM text file, KenLM, the word counts and the progress line."""

    def __init__(self, handle: BinaryIO, feed: Callable[[bytes], None], progress: LmTextProgress) -> None:
        self._handle = handle
        self._feed = feed
        self.progress = progress
        self.words: "Counter[str]" = Counter()

    def __call__(self, text: str) -> None:
        data = text.encode("utf-8")
        self._handle.write(data)
        self._feed(data)
        self.words.update(text.split())
        self.progress.count_kept(text)


def write_lm_text(
    path: Path, pack: LanguagePack, options: LmOptions, inputs: LmTextInputs, feed: Callable[[bytes], None]
) -> LmText:
    """Normalise the sources, then the too-long transcripts (apart, so that the report counts them),
    into ``path`` (atomically) and ``feed``; text of which no line passes the label rules is bad input."""
    groups = (inputs.sources, inputs.too_long)
    progress = LmTextProgress(sum(s.path.stat().st_size for s in itertools.chain(*groups)))
    excluded = frozenset() if options.keep_eval_sentences else inputs.evaluation.excluded
    with atomic_output(path, "wb") as handle:
        sink = _Sink(handle, feed, progress)
        stats = _normalise(inputs.sources, pack, options, excluded, sink)
        too_long = _normalise(inputs.too_long, pack, options, excluded, sink)
        stats.add(too_long)
        if stats.kept == 0:
            raise BadInputError(
                "no line of {} passed the label rules: check that the text is {} prose, one sentence "
                "per line.".format(", ".join(str(s.path) for s in itertools.chain(*groups)), pack.code)
            )
    progress.lines = stats.lines  # the label rules' count (str.splitlines) for the final line
    progress.finish()
    _log_counts(stats, too_long, inputs.too_long if options.add_too_long else None)
    return LmText(stats=stats, too_long=too_long, words=sink.words)


def _normalise(
    group: Sequence[TextSource], pack: LanguagePack, options: LmOptions, excluded: FrozenSet[str], sink: _Sink
) -> NormaliseStats:
    """One group of text files, read as one stream of blocks and normalised on ``options.workers`` cores."""
    if not group:
        return NormaliseStats()
    blocks = itertools.chain.from_iterable(read_blocks(s.path, sink.progress.advance) for s in group)
    counted = sink.progress.count_lines(blocks)
    return normalise_stream(counted, pack, options.english_compatible, excluded, sink, options.workers)


def _log_counts(stats: NormaliseStats, too_long: NormaliseStats, too_long_files: Optional[List[TextSource]]) -> None:
    LOG.info(
        "LM text: %d lines read, %d kept, %d rejected by the label rules, %d dev/test sentences removed",
        stats.lines,
        stats.kept,
        stats.rejected,
        stats.evaluation_removed,
    )
    if too_long_files is not None:
        LOG.info(
            "of which from %d too-long transcript files: %d lines read, %d kept",
            len(too_long_files),
            too_long.lines,
            too_long.kept,
        )
