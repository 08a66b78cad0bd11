"""The ``lm`` step: LM text, KenLM language model, vocabulary and scorer package, with a report.

Two pieces of work, each with its own completion marker so that a re-run redoes only what is
stale: the language model (text sources, with ``lm_add_excluded_max_sec`` the importers' transcripts
of clips too long for training, dev/test transcripts and parameters in; LM text,
``lm.binary`` and the vocabulary out), then the scorer package (``lm.binary``, vocabulary,
alphabet, alpha and beta in). ``rebuild_scorer`` re-packages the existing language model only,
as after decoder tuning, without needing the text sources any more.
"""

from __future__ import annotations

import itertools
import multiprocessing
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import (
    CompletionMarker,
    atomic_output,
    file_fingerprint,
    json_text,
    remove_path,
    temporary_sibling,
    write_text_atomic,
    write_text_if_changed,
)
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm import kenlm_tools
from stt_tasks.lm.normalise import (
    EvaluationTranscripts,
    NormaliseStats,
    evaluation_transcripts,
    normalise_stream,
    top_words,
)
from stt_tasks.lm.scorer import PreparedDictionary, float32, prepare_dictionary, write_package
from stt_tasks.lm.sources import ResolvedSources, TextSource, read_blocks, resolve_sources, too_long_sources
from stt_tasks.progress import LOG, Progress

LM_MARKER = ".lm.completed.json"
SCORER_MARKER = ".scorer.completed.json"
#: Bumped when the way the LM is built changes, so that older outputs count as stale.
RECIPE_VERSION = 1


@dataclass(frozen=True)
class LmOptions:
    """What the user chose for this run (CLI options and run parameters)."""

    texts: Tuple[Path, ...] = ()
    download: bool = False
    memory: str = "85%"
    top_k: int = 500000
    english_compatible: bool = False
    alpha: float = 0.0
    beta: float = 0.0
    keep_eval_sentences: bool = False
    workers: int = 1
    rebuild_scorer: bool = False
    #: the alphabet the scorer is written for (default: the alphabet step's models/alphabet.txt)
    alphabet: Optional[Path] = None
    #: LM_ADD_EXCLUDED_MAX_SEC: add every extracted/data/**/*_too_long.txt (transcripts of the clips
    #: the importers dropped as too long for training), so that their sentences still teach the LM
    add_too_long: bool = False


@dataclass(frozen=True)
class LmPaths:
    """Where the step's outputs go."""

    root: DataRoot
    top_k: int
    alphabet_override: Optional[Path] = None

    @property
    def lm_text(self) -> Path:
        return self.root.extracted / "sources_lm.txt"

    @property
    def binary(self) -> Path:
        return self.root.lm / "lm.binary"

    @property
    def vocabulary(self) -> Path:
        return self.root.lm / "vocab-{}.txt".format(self.top_k)

    @property
    def scorer(self) -> Path:
        return self.root.scorer

    @property
    def alphabet(self) -> Path:
        return self.alphabet_override or self.root.alphabet

    @property
    def report_json(self) -> Path:
        return self.root.lm / "lm_report.json"

    @property
    def report_text(self) -> Path:
        return self.root.lm / "lm_report.txt"


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


def build_lm(root: DataRoot, pack: LanguagePack, options: LmOptions) -> Dict[str, Any]:
    """Run the whole step; return its JSON result (the last stdout line)."""
    paths = LmPaths(root, options.top_k, options.alphabet)
    if not paths.alphabet.is_file():
        raise BadInputError(
            "{}: missing. The scorer is written for the model's alphabet: run the alphabet step first.".format(
                paths.alphabet
            )
        )
    marker = CompletionMarker(root.lm, LM_MARKER)
    prepared: Optional[PreparedDictionary] = None
    if options.rebuild_scorer:
        language_model = _finished_language_model(marker, root)
    else:
        language_model, prepared = _language_model(root, pack, options, paths, marker)
    scorer, scorer_rebuilt = _scorer(root, language_model, paths, options, prepared)
    report = {"language_model": asdict(language_model), "scorer": scorer}
    write_text_if_changed(paths.report_json, json_text(report))
    write_text_if_changed(paths.report_text, readable_report(report))
    return {
        "lm_binary": language_model.lm_binary,
        "vocabulary": language_model.vocabulary,
        "scorer": scorer["path"],
        "lm_text": language_model.lm_text,
        "report": str(paths.report_json),
        "report_text": str(paths.report_text),
        "vocabulary_size": language_model.vocabulary_size,
        "evaluation_sentences_removed": language_model.evaluation_sentences_removed,
        "dev_perplexity": (language_model.dev_perplexity or {}).get("perplexity"),
        "alpha": scorer["alpha"],
        "beta": scorer["beta"],
        "rebuilt": {"language_model": prepared is not None, "scorer": scorer_rebuilt},
    }


def _remove_leftovers(paths: LmPaths) -> None:
    """Temporary files and work folders of a killed run (``finally`` blocks never ran).

    Everything temporary in ``lm/`` is this step's; in ``extracted/`` only its LM text is.
    """
    leftovers = list(paths.root.lm.glob(".*.tmp-*")) + list(
        paths.lm_text.parent.glob(".{}.tmp-*".format(paths.lm_text.name))
    )
    for leftover in leftovers:
        LOG.info("removing %s, left by an interrupted run", leftover)
        remove_path(leftover)


def _finished_language_model(marker: CompletionMarker, root: DataRoot) -> LanguageModelResult:
    """The language model an earlier run recorded, for re-packaging only."""
    try:
        language_model = LanguageModelResult(**marker.outputs())
    except TypeError:
        raise BadInputError(
            "{}: no finished language model to re-package (or one recorded by an older version). Run the lm "
            "step without --rebuild-scorer first.".format(root.lm)
        ) from None
    for output in (language_model.lm_binary, language_model.vocabulary):
        if not Path(output).is_file():
            raise BadInputError("{}: missing. Run the lm step without --rebuild-scorer.".format(output))
    return language_model


def _language_model(
    root: DataRoot, pack: LanguagePack, options: LmOptions, paths: LmPaths, marker: CompletionMarker
) -> Tuple[LanguageModelResult, Optional[PreparedDictionary]]:
    """The language model, rebuilt only when its inputs changed (then with its scorer dictionary)."""
    resolved = resolve_sources(root.sources, pack, options.texts, options.download)
    too_long = too_long_sources(root.data) if options.add_too_long else []
    evaluation = evaluation_transcripts(root.data, pack, options.english_compatible)
    inputs: Dict[str, Any] = {
        "recipe": RECIPE_VERSION,
        "sources": [file_fingerprint(s.path) for s in resolved.sources],
        "evaluation_csvs": [file_fingerprint(p) for p in evaluation.csvs],
        "top_k": options.top_k,
        "english_compatible": options.english_compatible,
        "keep_eval_sentences": options.keep_eval_sentences,
        "language": pack.code,
    }
    if options.add_too_long:
        # Only when on, so that a language model built before the option existed stays current.
        inputs["too_long"] = [file_fingerprint(s.path) for s in too_long]
    if marker.is_current(inputs):
        LOG.info("language model up to date (%s): nothing to rebuild", marker.path)
        return LanguageModelResult(**marker.outputs()), None
    marker.clear()
    result, prepared = _build_language_model(pack, options, paths, resolved, too_long, evaluation)
    marker.write(inputs, [paths.lm_text, paths.binary, paths.vocabulary], asdict(result))
    return result, prepared


def _build_language_model(
    pack: LanguagePack,
    options: LmOptions,
    paths: LmPaths,
    resolved: ResolvedSources,
    too_long: List[TextSource],
    evaluation: EvaluationTranscripts,
) -> Tuple[LanguageModelResult, PreparedDictionary]:
    """LM text, KenLM binary and vocabulary from the sources; the scorer dictionary on the side.

    The too-long transcripts come last, normalised separately so that the report can count them.
    """
    sources = resolved.sources
    tools = kenlm_tools.find_tools()
    _remove_leftovers(paths)
    work = temporary_sibling(paths.root.lm / "work")
    work.mkdir(parents=True)
    try:
        excluded = frozenset() if options.keep_eval_sentences else evaluation.excluded
        arpa = work / "lm.arpa"
        progress = LmTextProgress(sum(s.path.stat().st_size for s in itertools.chain(sources, too_long)))
        counts: "Counter[str]" = Counter()
        # Spawned, not forked: a forked child would inherit lmplz's stdin pipe and keep it open.
        packager = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        lmplz = kenlm_tools.Lmplz(tools["lmplz"], arpa, work, options.memory)
        try:
            with atomic_output(paths.lm_text, "wb") as text_file:

                def sink(text: str) -> None:
                    data = text.encode("utf-8")
                    text_file.write(data)
                    lmplz.write(data)
                    counts.update(text.split())
                    progress.count_kept(text)

                def normalised(group: List[TextSource]) -> NormaliseStats:
                    blocks = progress.count_lines(
                        itertools.chain.from_iterable(read_blocks(s.path, progress.advance) for s in group))
                    return normalise_stream(blocks, pack, options.english_compatible, excluded, sink, options.workers)

                stats = normalised(sources)
                too_long_stats = normalised(too_long) if too_long else NormaliseStats()
                stats.add(too_long_stats)
                if stats.kept == 0:
                    raise BadInputError(
                        "no line of {} passed the label rules: check that the text is {} prose, one sentence "
                        "per line.".format(", ".join(str(s.path) for s in sources + too_long), pack.code)
                    )
            progress.lines = stats.lines  # the label rules' count (str.splitlines) for the final line
            progress.finish()
            LOG.info(
                "LM text: %d lines read, %d kept, %d rejected by the label rules, %d dev/test sentences removed",
                stats.lines,
                stats.kept,
                stats.rejected,
                stats.evaluation_removed,
            )
            if options.add_too_long:
                LOG.info(
                    "of which from %d too-long transcript files: %d lines read, %d kept",
                    len(too_long),
                    too_long_stats.lines,
                    too_long_stats.kept,
                )
            vocabulary = top_words(counts, options.top_k)
            write_text_atomic(paths.vocabulary, "\n".join(vocabulary))
            LOG.info("vocabulary: %d of %d distinct words (top-k %d)", len(vocabulary), len(counts), options.top_k)
            # The scorer's dictionary, the slow part of packaging, needs only the vocabulary: it is
            # built in another process while KenLM finishes estimating, filters and binarises.
            dictionary = packager.submit(prepare_dictionary, paths.vocabulary, paths.alphabet)
            seconds = {"lmplz": round(lmplz.finish(), 3)}
            filtered = work / "lm_filtered.arpa"
            seconds["filter"] = round(kenlm_tools.filter_arpa(tools["filter"], arpa, vocabulary, filtered, work), 3)
            arpa.unlink()
            binary = work / "lm.binary"
            seconds["build_binary"] = round(
                kenlm_tools.build_binary(tools["build_binary"], filtered, binary, work), 3
            )
            prepared = dictionary.result()
        except BaseException:
            lmplz.abort()
            raise
        finally:
            packager.shutdown()
        binary.replace(paths.binary)
        LOG.info("KenLM: %s", ", ".join("{} {:.1f} s".format(k, v) for k, v in seconds.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    dev = kenlm_tools.perplexity(paths.binary, evaluation.dev)
    if dev:
        LOG.info("dev perplexity %.1f over %d sentences (%d OOV words)", dev["perplexity"], dev["sentences"],
                 dev["oov_words"])
    return LanguageModelResult(
        lm_text=str(paths.lm_text),
        lm_binary=str(paths.binary),
        vocabulary=str(paths.vocabulary),
        sources=[str(s.path) for s in sources],
        missing_sources=resolved.missing,
        lines=stats.lines,
        kept_lines=stats.kept,
        rejected_lines=stats.rejected,
        evaluation_sentences_removed=stats.evaluation_removed,
        words=sum(counts.values()),
        distinct_words=len(counts),
        top_k=options.top_k,
        vocabulary_size=len(vocabulary),
        dev_perplexity=dev,
        parameters={
            "lm_top_k": options.top_k,
            "english_compatible": options.english_compatible,
            "keep_eval_sentences": options.keep_eval_sentences,
            "lm_add_excluded_max_sec": options.add_too_long,
            "memory": options.memory,
            "order": kenlm_tools.ORDER,
            "prune": list(kenlm_tools.PRUNE),
            "build_binary": list(kenlm_tools.BINARY_ARGS),
        },
        seconds=seconds,
        too_long=_too_long_counts(too_long, too_long_stats) if options.add_too_long else None,
    ), prepared


def _too_long_counts(too_long: List[TextSource], stats: NormaliseStats) -> Dict[str, Any]:
    """What the too-long transcripts contributed to the LM text, for the report."""
    return {
        "files": [str(s.path) for s in too_long],
        "lines": stats.lines,
        "kept_lines": stats.kept,
        "rejected_lines": stats.rejected,
        "evaluation_sentences_removed": stats.evaluation_removed,
    }


def _scorer(
    root: DataRoot,
    language_model: LanguageModelResult,
    paths: LmPaths,
    options: LmOptions,
    prepared: Optional[PreparedDictionary] = None,
) -> Tuple[Dict[str, Any], bool]:
    """The scorer package (and whether it was re-packaged: only when the LM, vocabulary, alphabet or
    alpha/beta changed).

    ``prepared`` is the dictionary of this run's new vocabulary, when the LM was just rebuilt.
    """
    marker = CompletionMarker(root.lm, SCORER_MARKER)
    binary, vocabulary = Path(language_model.lm_binary), Path(language_model.vocabulary)
    inputs = {
        "lm_binary": file_fingerprint(binary),
        "vocabulary": file_fingerprint(vocabulary),
        "alphabet": file_fingerprint(paths.alphabet),
        "alpha": float32(options.alpha),
        "beta": float32(options.beta),
    }
    if marker.is_current(inputs):
        LOG.info("scorer up to date (%s)", paths.scorer)
        return marker.outputs(), False
    marker.clear()
    if prepared is None:
        prepared = prepare_dictionary(vocabulary, paths.alphabet)
    package = write_package(binary, prepared, paths.scorer, options.alpha, options.beta)
    result = {
        "path": str(package.path),
        "words": package.words,
        "skipped_words": package.skipped_words,
        "states": package.states,
        "arcs": package.arcs,
        "utf8_mode": package.utf8_mode,
        "alpha": package.alpha,
        "beta": package.beta,
        "size": package.path.stat().st_size,
    }
    LOG.info(
        "scorer %s: %d words (%d outside the alphabet skipped), FST of %d states, alpha %g beta %g",
        package.path,
        package.words,
        package.skipped_words,
        package.states,
        package.alpha,
        package.beta,
    )
    marker.write(inputs, [package.path], result)
    return result, True


def _too_long_line(too_long: Optional[Dict[str, Any]]) -> str:
    if too_long is None:
        return "not added"
    return "{} lines read from {} files, {} kept ({} rejected, {} dev/test sentences removed)".format(
        too_long["lines"],
        len(too_long["files"]),
        too_long["kept_lines"],
        too_long["rejected_lines"],
        too_long["evaluation_sentences_removed"],
    )


def readable_report(report: Dict[str, Any]) -> str:
    """The report as a person reads it."""
    lm = report["language_model"]
    scorer = report["scorer"]
    lines = [
        "Language model",
        "  sources: {}".format(", ".join(lm["sources"])),
        "  not used (absent from sources/): {}".format(", ".join(lm["missing_sources"]) or "none"),
        "  lines read: {}, kept: {}, rejected by the label rules: {}".format(
            lm["lines"], lm["kept_lines"], lm["rejected_lines"]
        ),
        "  dev/test sentences removed from the LM text: {}".format(lm["evaluation_sentences_removed"]),
        "  transcripts of clips too long for training (lm_add_excluded_max_sec): {}".format(
            _too_long_line(lm.get("too_long"))
        ),
        "  words: {}, distinct: {}, vocabulary (top-k {}): {}".format(
            lm["words"], lm["distinct_words"], lm["top_k"], lm["vocabulary_size"]
        ),
        "  KenLM: order {}, prune {}, build_binary {}, lmplz memory {}".format(
            lm["parameters"]["order"],
            "|".join(str(p) for p in lm["parameters"]["prune"]),
            " ".join(lm["parameters"]["build_binary"]),
            lm["parameters"]["memory"],
        ),
        "  time (s): {}".format(", ".join("{} {}".format(k, v) for k, v in lm["seconds"].items())),
    ]
    dev = lm["dev_perplexity"]
    if dev:
        lines.append(
            "  dev perplexity: {} ({} sentences, {} OOV words)".format(
                dev["perplexity"], dev["sentences"], dev["oov_words"]
            )
        )
    else:
        lines.append("  dev perplexity: not measured (no dev transcripts or no kenlm module)")
    lines += [
        "Scorer package {}".format(scorer["path"]),
        "  words: {} ({} outside the alphabet skipped), FST {} states, {} arcs".format(
            scorer["words"], scorer["skipped_words"], scorer["states"], scorer["arcs"]
        ),
        "  default alpha {}, beta {} (float32)".format(scorer["alpha"], scorer["beta"]),
    ]
    return "\n".join(lines) + "\n"
