"""The language model: KenLM's ``lmplz`` estimating it from the LM text while the text is written,
the top-k vocabulary, ``filter`` and ``build_binary``; the scorer's dictionary is prepared on the side.

Everything temporary goes into a work folder in ``lm/`` (removed whatever happens); the binary is
renamed into place only when every tool succeeded.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from stt_tasks.fsio import remove_path, temporary_sibling, write_text_atomic
from stt_tasks.languages import LanguagePack
from stt_tasks.lm import kenlm_tools
from stt_tasks.lm.lm_text import LmText, LmTextInputs, write_lm_text
from stt_tasks.lm.normalise import NormaliseStats, top_words
from stt_tasks.lm.options import LmOptions, LmPaths
from stt_tasks.lm.scorer import PreparedDictionary, prepare_dictionary
from stt_tasks.lm.sources import TextSource
from stt_tasks.progress import LOG

# The scorer's dictionary is built in a spawned process, not a forked one: a forked child would
# inherit lmplz's stdin pipe and keep it open.
_SPAWN = multiprocessing.get_context("spawn")

@dataclass
class LanguageModelResult:
    """What building the language model produced and measured (recorded in its marker)."""

    lm_text: str
    lm_binary: str
    vocabulary: str
    sources: List[str]
    missing_sources: List[str]
    lines: int
    kept_lines: int
    rejected_lines: int
    evaluation_sentences_removed: int
    words: int
    distinct_words: int
    top_k: int
    vocabulary_size: int
    dev_perplexity: Optional[Dict[str, float]]
    parameters: Dict[str, Any] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)
    #: with lm_add_excluded_max_sec: the too-long transcript files and their line counts (None: off)
    too_long: Optional[Dict[str, Any]] = None


def build_language_model(
    pack: LanguagePack, options: LmOptions, paths: LmPaths, inputs: LmTextInputs, tools: Dict[str, Path]
) -> Tuple[LanguageModelResult, PreparedDictionary]:
    """LM text, KenLM binary and vocabulary from ``inputs``; the scorer's dictionary of the vocabulary.

    The result's ``dev_perplexity`` is left None: measuring it is the report's business.
    """
    remove_leftovers(paths)
    with _work_folder(paths.root.lm) as work, ProcessPoolExecutor(1, mp_context=_SPAWN) as packager:
        arpa = work / "lm.arpa"
        with kenlm_tools.Lmplz(tools["lmplz"], arpa, work, options.memory) as lmplz:
            text = write_lm_text(paths.lm_text, pack, options, inputs, lmplz.write)
            vocabulary = write_vocabulary(paths.vocabulary, text.words, options.top_k)
            # The scorer's dictionary, the slow part of packaging, needs only the vocabulary: it is
            # built in another process while KenLM finishes estimating, filters and binarises.
            dictionary = packager.submit(prepare_dictionary, paths.vocabulary, paths.alphabet)
            seconds = {"lmplz": round(lmplz.finish(), 3)}
        seconds.update(_filter_and_binarise(tools, arpa, vocabulary, work))
        prepared = dictionary.result()
        (work / "lm.binary").replace(paths.binary)
    LOG.info("KenLM: %s", ", ".join("{} {:.1f} s".format(k, v) for k, v in seconds.items()))
    return _summary(options, paths, inputs, text, len(vocabulary), seconds), prepared


def remove_leftovers(paths: LmPaths) -> None:
    """Temporary files and work folders of a killed run (``finally`` blocks never ran).

    Everything temporary in ``lm/`` is this step's; in ``extracted/`` only its LM text is.
    """
    leftovers = list(paths.root.lm.glob(".*.tmp-*")) + list(
        paths.lm_text.parent.glob(".{}.tmp-*".format(paths.lm_text.name))
    )
    for leftover in leftovers:
        LOG.info("removing %s, left by an interrupted run", leftover)
        remove_path(leftover)


@contextlib.contextmanager
def _work_folder(lm_dir: Path) -> Iterator[Path]:
    """A fresh folder for KenLM's temporary files and logs, removed when the block ends."""
    work = temporary_sibling(lm_dir / "work")
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_vocabulary(path: Path, words: "Counter[str]", top_k: int) -> List[str]:
    """The ``top_k`` most frequent words, written one a line (what ``filter`` and the scorer read)."""
    vocabulary = top_words(words, top_k)
    write_text_atomic(path, "\n".join(vocabulary))
    LOG.info("vocabulary: %d of %d distinct words (top-k %d)", len(vocabulary), len(words), top_k)
    return vocabulary


def _filter_and_binarise(
    tools: Dict[str, Path], arpa: Path, vocabulary: Sequence[str], work: Path
) -> Dict[str, float]:
    """``work/lm.binary`` from the ARPA file, filtered to the vocabulary; each tool's seconds."""
    filtered = work / "lm_filtered.arpa"
    seconds = {"filter": round(kenlm_tools.filter_arpa(tools["filter"], arpa, vocabulary, filtered, work), 3)}
    arpa.unlink()  # as large as the text may be: free the disk before build_binary needs it
    binary = work / "lm.binary"
    seconds["build_binary"] = round(kenlm_tools.build_binary(tools["build_binary"], filtered, binary, work), 3)
    return seconds


def _summary(
    options: LmOptions, paths: LmPaths, inputs: LmTextInputs, text: LmText, vocabulary_size: int,
    seconds: Dict[str, float],
) -> LanguageModelResult:
    return LanguageModelResult(
        lm_text=str(paths.lm_text),
        lm_binary=str(paths.binary),
        vocabulary=str(paths.vocabulary),
        sources=[str(s.path) for s in inputs.sources],
        missing_sources=inputs.resolved.missing,
        lines=text.stats.lines,
        kept_lines=text.stats.kept,
        rejected_lines=text.stats.rejected,
        evaluation_sentences_removed=text.stats.evaluation_removed,
        words=sum(text.words.values()),
        distinct_words=len(text.words),
        top_k=options.top_k,
        vocabulary_size=vocabulary_size,
        dev_perplexity=None,
        parameters=_parameters(options),
        seconds=seconds,
        too_long=_too_long_counts(inputs.too_long, text.too_long) if options.add_too_long else None,
    )


def _parameters(options: LmOptions) -> Dict[str, Any]:
    """The choices and the KenLM recipe the language model was built with, for the report."""
    return {
        "lm_top_k": options.top_k,
        "english_compatible": options.english_compatible,
        "keep_eval_sentences": options.keep_eval_sentences,
        "lm_add_excluded_max_sec": options.add_too_long,
        "memory": options.memory,
        **kenlm_tools.recipe(),
    }


def _too_long_counts(too_long: List[TextSource], stats: NormaliseStats) -> Dict[str, Any]:
    """What the too-long transcripts contributed to the LM text, for the report."""
    return {
        "files": [str(s.path) for s in too_long],
        "lines": stats.lines,
        "kept_lines": stats.kept,
        "rejected_lines": stats.rejected,
        "evaluation_sentences_removed": stats.evaluation_removed,
    }
