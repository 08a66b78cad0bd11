"""The ``lm`` step: LM text, KenLM language model, vocabulary and scorer package, with a report.

Two pieces of work, each with its own completion marker so that a re-run redoes only what is
stale: the language model (:mod:`lm_text` and :mod:`build`: text sources, with
``lm_add_excluded_max_sec`` the importers' transcripts of clips too long for training, dev/test
transcripts, normalisation rules, KenLM recipe and tools in; LM text, ``lm.binary`` and the
vocabulary out), then the scorer package (:mod:`scorer_package`). ``rebuild_scorer`` re-packages
the existing language model only, as after decoder tuning, without needing the text sources any
more. Each marker records everything that decides its outputs (:func:`language_model_inputs`,
:func:`scorer_package.scorer_inputs`), so that changing any of it rebuilds and nothing else does.
This module only orchestrates.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm import kenlm_tools, lm_text
from stt_tasks.lm.build import LanguageModelResult, build_language_model
from stt_tasks.lm.options import LmOptions, LmPaths
from stt_tasks.lm.report import perplexity, perplexity_identity, write_reports
from stt_tasks.lm.scorer import PreparedDictionary
from stt_tasks.lm.scorer_package import package_scorer
from stt_tasks.progress import LOG

__all__ = ["LM_MARKER", "LmOptions", "build_lm", "language_model_inputs"]

LM_MARKER = ".lm.completed.json"


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
        language_model, prepared = _language_model(pack, options, paths, marker)
    scorer, scorer_rebuilt = package_scorer(paths, language_model, options, prepared)
    report, report_text = write_reports(paths, language_model, scorer)
    return {
        "lm_binary": language_model.lm_binary,
        "vocabulary": language_model.vocabulary,
        "scorer": scorer["path"],
        "lm_text": language_model.lm_text,
        "report": str(report),
        "report_text": str(report_text),
        "vocabulary_size": language_model.vocabulary_size,
        "evaluation_sentences_removed": language_model.evaluation_sentences_removed,
        "dev_perplexity": (language_model.dev_perplexity or {}).get("perplexity"),
        "alpha": scorer["alpha"],
        "beta": scorer["beta"],
        "rebuilt": {"language_model": prepared is not None, "scorer": scorer_rebuilt},
    }


def language_model_inputs(
    pack: LanguagePack, options: LmOptions, inputs: lm_text.LmTextInputs, tools: Dict[str, Path]
) -> Dict[str, Any]:
    """Everything that decides the language model's outputs (LM text, binary, vocabulary, the figures
    of the report), as its marker records it: the LM text's inputs and rules, the top-k, the KenLM
    recipe's constants and tools, and what measures the dev perplexity (when there are dev sentences)."""
    return {
        "text": lm_text.identity(pack, options, inputs),
        "top_k": options.top_k,
        "kenlm": {"recipe": kenlm_tools.recipe(), "tools": kenlm_tools.tools_identity(tools)},
        "perplexity": perplexity_identity() if inputs.evaluation.dev else None,
    }


def _language_model(
    pack: LanguagePack, options: LmOptions, paths: LmPaths, marker: CompletionMarker
) -> Tuple[LanguageModelResult, Optional[PreparedDictionary]]:
    """The language model, rebuilt only when its inputs changed (then with its scorer dictionary)."""
    inputs = lm_text.find_inputs(paths.root, pack, options)
    tools = kenlm_tools.find_tools()
    recorded = language_model_inputs(pack, options, inputs, tools)
    if marker.is_current(recorded):
        LOG.info("language model up to date (%s): nothing to rebuild", marker.path)
        return LanguageModelResult(**marker.outputs()), None
    marker.clear()
    built, prepared = build_language_model(pack, options, paths, inputs, tools)
    result = dataclasses.replace(built, dev_perplexity=perplexity(paths.binary, inputs.evaluation.dev))
    marker.write(recorded, [paths.lm_text, paths.binary, paths.vocabulary], dataclasses.asdict(result))
    return result, prepared


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
