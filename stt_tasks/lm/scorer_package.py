"""The scorer package ``lm/kenlm.scorer``: the KenLM binary, the decoder's dictionary, default alpha/beta.

Re-packaged only when what decides its bytes changed: the binary, the vocabulary, the alphabet,
alpha and beta (as float32), or the package format the writer (``scorer.py``) puts in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from stt_tasks.fsio import CompletionMarker, file_fingerprint
from stt_tasks.lm import scorer
from stt_tasks.lm.build import LanguageModelResult
from stt_tasks.lm.options import LmOptions, LmPaths
from stt_tasks.lm.scorer import PreparedDictionary, ScorerPackage, float32, prepare_dictionary, write_package
from stt_tasks.progress import LOG

SCORER_MARKER = ".scorer.completed.json"
#: The constants of the package format the writer puts in every package.
_FORMAT_CONSTANTS = ("SCORER_MAGIC", "SCORER_VERSION", "FST_MAGIC", "FST_ALIGNMENT", "CONST_FST_VERSION",
                     "FST_FLAG_ALIGNED")


def writer_identity() -> Dict[str, Any]:
    """The writer's package format (its version and layout constants), read when called, so that the
    marker holds what the package is written with and a new format re-packages."""
    return {name.lower(): getattr(scorer, name) for name in _FORMAT_CONSTANTS}


def scorer_inputs(language_model: LanguageModelResult, paths: LmPaths, options: LmOptions) -> Dict[str, Any]:
    """Everything that decides the package's bytes, as its marker records it."""
    return {
        "lm_binary": file_fingerprint(Path(language_model.lm_binary)),
        "vocabulary": file_fingerprint(Path(language_model.vocabulary)),
        "alphabet": file_fingerprint(paths.alphabet),
        "alpha": float32(options.alpha),
        "beta": float32(options.beta),
        "writer": writer_identity(),
    }


def package_scorer(
    paths: LmPaths,
    language_model: LanguageModelResult,
    options: LmOptions,
    prepared: Optional[PreparedDictionary] = None,
) -> Tuple[Dict[str, Any], bool]:
    """The scorer package's summary, and whether it was (re-)written: only when its inputs changed.

    ``prepared`` is the dictionary of this run's new vocabulary, when the LM was just rebuilt.
    """
    marker = CompletionMarker(paths.root.lm, SCORER_MARKER)
    inputs = scorer_inputs(language_model, paths, options)
    if marker.is_current(inputs):
        LOG.info("scorer up to date (%s)", paths.scorer)
        return marker.outputs(), False
    marker.clear()
    if prepared is None:
        prepared = prepare_dictionary(Path(language_model.vocabulary), paths.alphabet)
    package = write_package(Path(language_model.lm_binary), prepared, paths.scorer, options.alpha, options.beta)
    LOG.info(
        "scorer %s: %d words (%d outside the alphabet skipped), FST of %d states, alpha %g beta %g",
        package.path,
        package.words,
        package.skipped_words,
        package.states,
        package.alpha,
        package.beta,
    )
    summary = _summary(package)
    marker.write(inputs, [package.path], summary)
    return summary, True


def _summary(package: ScorerPackage) -> Dict[str, Any]:
    return {
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
