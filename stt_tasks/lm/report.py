"""The lm step's report (``lm/lm_report.json`` and ``lm_report.txt``) and the dev perplexity it shows.

Both files are rewritten only when their text changes, so that a re-run that rebuilt nothing
leaves them byte for byte (and time stamp) as they were.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from stt_tasks.fsio import json_text, write_text_if_changed
from stt_tasks.lm import kenlm_tools
from stt_tasks.lm.build import LanguageModelResult
from stt_tasks.lm.options import LmPaths
from stt_tasks.progress import LOG


def perplexity_identity() -> Optional[str]:
    """Version of the ``kenlm`` Python module that measures the dev perplexity (None: not installed,
    so not measured): the language model's marker records it, as it decides the report's figure."""
    if importlib.util.find_spec("kenlm") is None:
        return None
    try:
        return metadata.version("kenlm")
    except metadata.PackageNotFoundError:
        return "unknown"


def perplexity(binary: Path, sentences: Sequence[str]) -> Optional[Dict[str, float]]:
    """Perplexity of ``sentences`` under the LM (Python ``kenlm`` module), or None without it.

    Counts every word and each sentence end, as KenLM's own ``perplexity`` does per sentence.
    """
    if not sentences:
        return None
    try:
        import kenlm  # type: ignore[import-not-found]
    except ImportError:
        LOG.warning("the kenlm Python module is not installed (pip install 'stt-tasks[lm]'): no dev perplexity")
        return None
    model = kenlm.Model(str(binary))
    log10_total = 0.0
    tokens = 0
    oov = 0
    for sentence in sentences:
        log10_total += model.score(sentence, bos=True, eos=True)
        words = sentence.split()
        tokens += len(words) + 1
        oov += sum(1 for word in words if word not in model)
    result = {
        "perplexity": round(10.0 ** (-log10_total / tokens), 3),
        "sentences": len(sentences),
        "tokens": tokens,
        "oov_words": oov,
    }
    LOG.info("dev perplexity %.1f over %d sentences (%d OOV words)", result["perplexity"], len(sentences), oov)
    return result


def write_reports(paths: LmPaths, language_model: LanguageModelResult, scorer: Dict[str, Any]) -> Tuple[Path, Path]:
    """Write the JSON and the readable report (each only if changed); return their paths.

    Both are made from the report as JSON reads it back, as a skipping run has it from the markers,
    so that a run that rebuilt and one that skipped write the same bytes.
    """
    report = json.loads(json_text({"language_model": asdict(language_model), "scorer": scorer}))
    write_text_if_changed(paths.report_json, json_text(report))
    write_text_if_changed(paths.report_text, readable_report(report))
    return paths.report_json, paths.report_text


def readable_report(report: Dict[str, Any]) -> str:
    """The report as a person reads it."""
    lines = ["Language model"] + _language_model_lines(report["language_model"])
    lines += _dev_perplexity_lines(report["language_model"]["dev_perplexity"])
    return "\n".join(lines + _scorer_lines(report["scorer"])) + "\n"


def _language_model_lines(lm: Dict[str, Any]) -> List[str]:
    parameters = lm["parameters"]
    return [
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
            parameters["order"],
            "|".join(str(p) for p in parameters["prune"]),
            " ".join(parameters["build_binary"]),
            parameters["memory"],
        ),
        "  time (s): {}".format(", ".join("{} {}".format(k, lm["seconds"][k]) for k in _in_run_order(lm["seconds"]))),
    ]


def _in_run_order(seconds: Dict[str, float]) -> List[str]:
    """The tools timed, in the order they ran (the markers' JSON has its keys sorted)."""
    return sorted(seconds, key=lambda tool: (kenlm_tools.TOOLS + (tool,)).index(tool))


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


def _dev_perplexity_lines(dev: Optional[Dict[str, Any]]) -> List[str]:
    if not dev:
        return ["  dev perplexity: not measured (no dev transcripts or no kenlm module)"]
    return ["  dev perplexity: {} ({} sentences, {} OOV words)".format(dev["perplexity"], dev["sentences"],
                                                                       dev["oov_words"])]


def _scorer_lines(scorer: Dict[str, Any]) -> List[str]:
    return [
        "Scorer package {}".format(scorer["path"]),
        "  words: {} ({} outside the alphabet skipped), FST {} states, {} arcs".format(
            scorer["words"], scorer["skipped_words"], scorer["states"], scorer["arcs"]
        ),
        "  default alpha {}, beta {} (float32)".format(scorer["alpha"], scorer["beta"]),
    ]
