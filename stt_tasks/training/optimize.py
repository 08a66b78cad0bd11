"""The optimize-lm step: tune the decoder's lm_alpha/lm_beta on the dev sets; a scorer package carrying them.

``LM_EVALUATE_RANGE=alpha_max,beta_max,n_trials`` (empty: nothing to do, the task is skipped). The
acoustic model runs once over the dev CSVs (:mod:`stt_tasks.training.acoustic`: its outputs are stored,
and found again by a resumed study and by the test step); each trial of the search
(:mod:`stt_tasks.training.lm_search`) only decodes them. The Optuna study is kept in
``lm/lm_optimizer.sqlite`` so a killed run resumes. The step produces two artifacts of its own: the
tuning (``lm/opt_lm.json``: best values, dev error, trials) and the tuned scorer package
(``lm/tuned/kenlm.scorer``): the given scorer's language model and dictionary with the tuned values as
its defaults. The given scorer (the lm step's) is never modified: test, export and transcribe decode
with the tuned package's defaults while LM_ALPHA and LM_BETA are 0.0, as the original pipeline did.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from stt_tasks.errors import NothingToDoError
from stt_tasks.fsio import CompletionMarker, file_fingerprint, json_digest, write_json_atomic
from stt_tasks.layout import DataRoot
from stt_tasks.lm.scorer import read_scorer_defaults, write_package_with_defaults
from stt_tasks.progress import LOG
from stt_tasks.training.acoustic import acoustic_outputs, pass_summary
from stt_tasks.training.datasets import check_clips_exist, fingerprints, require_csvs
from stt_tasks.training.evaluate import checkpoint_fingerprint, require_checkpoint, require_file, scorer_path

if TYPE_CHECKING:  # pragma: no cover - optuna and the decoder are imported in the image only
    from stt_tasks.training.lm_search import SearchSettings

MARKER = ".optimize.completed.json"
STUDY_FILE = "lm_optimizer.sqlite"
#: Bumped when the tuning or the tuned package changes for the same inputs (older markers are stale).
WRITER = "optimize-lm/3"


def search_inputs(root: DataRoot, params: Mapping[str, Any], alphabet: Path, scorer: Path) -> Dict[str, Any]:
    """Everything the tuned values depend on: dev sets, checkpoint, alphabet, the scorer's bytes, the search."""
    alpha_max, beta_max, n_trials = params["lm_evaluate_range"]
    return {
        "dev_csvs": fingerprints(require_csvs(root, "dev")),
        "checkpoint": checkpoint_fingerprint(root),
        "alphabet": file_fingerprint(alphabet),
        "scorer": file_fingerprint(scorer),
        "range": [alpha_max, beta_max, n_trials],
        "beam_width": params["beam_width"],
        "batch_size": params["batch_size"],
        "writer": WRITER,
    }


def study_name(inputs: Mapping[str, Any]) -> str:
    """The Optuna study of these inputs, named by everything but n_trials: a killed run, or a later run
    asking for more trials, continues the same study; other inputs (checkpoint, dev sets, scorer, ranges)
    start a new one."""
    alpha_max, beta_max, _n_trials = inputs["range"]
    return "lm-{}".format(json_digest(dict(inputs, range=[alpha_max, beta_max]))[:16])


def run_search(root: DataRoot, params: Mapping[str, Any], alphabet: Path, scorer: Path,
               inputs: Mapping[str, Any]) -> Dict[str, Any]:
    """Run (or resume) the search: one acoustic pass over the dev CSVs (or its stored outputs), then trials
    that only decode; return what it found."""
    from stt_tasks.training.lm_search import SearchSettings

    alpha_max, beta_max, n_trials = inputs["range"]
    dev_csvs = [Path(record["path"]) for record in inputs["dev_csvs"]]
    check_clips_exist(dev_csvs)
    stored = acoustic_outputs(root, dev_csvs, alphabet, params["batch_size"])  # tune on dev, never on test
    study = root.lm / STUDY_FILE
    settings = SearchSettings(alpha_max=alpha_max, beta_max=beta_max, n_trials=n_trials, study=study_name(inputs),
                              storage="sqlite:///{}".format(study), stored_outputs=[s.path for s in stored],
                              alphabet=alphabet, scorer=scorer, beam_width=params["beam_width"])
    LOG.info("tuning lm_alpha in [0, %g], lm_beta in [0, %g], %d trials on %d dev CSVs (study %s in %s)",
             alpha_max, beta_max, n_trials, len(dev_csvs), settings.study, study)
    found = search(settings)
    return dict(found, study=str(study), study_name=settings.study, tuned_on=[str(p) for p in dev_csvs],
                acoustic=pass_summary(stored))


def search(settings: "SearchSettings") -> Dict[str, Any]:
    """The Optuna search over the stored outputs (imported here: optuna and the decoder live in the image)."""
    from stt_tasks.training.lm_search import run_search as run_trials

    return run_trials(settings)


def optimize_lm(root: DataRoot, params: Mapping[str, Any], alphabet: Optional[Path] = None,
                scorer: Optional[Path] = None) -> Dict[str, Any]:
    """Tune alpha/beta for ``scorer`` on the dev sets; write the tuning and the tuned scorer package.

    ``alphabet`` and ``scorer`` default to the alphabet and lm steps' outputs; the scorer is read, never
    rewritten. Result: ``scorer`` (the tuned package), ``tuning``, ``lm_alpha``, ``lm_beta``, ``wer``,
    ``metric``, ``trials``, ``tuned_on``, ``source_scorer``, ``study``, ``study_name``, ``resumed_from_trials``,
    ``acoustic_passes`` (``computed``/``reused``: dev CSVs the acoustic model ran over, or found stored).
    """
    if params["lm_evaluate_range"] is None:
        raise NothingToDoError("LM_EVALUATE_RANGE is empty: decoder tuning not requested (set it to "
                               "alpha_max,beta_max,n_trials, for example 5,5,600).")
    scorer = scorer_path(root, scorer)
    if scorer is None:
        raise NothingToDoError("no scorer at {}: decoder tuning needs the LM step's kenlm.scorer."
                               .format(root.scorer))
    alphabet = require_file(alphabet or root.alphabet, "alphabet")
    read_scorer_defaults(scorer)  # a scorer the decoder cannot read fails here, before an hour of trials
    require_checkpoint(root)
    inputs = search_inputs(root, params, alphabet, scorer)
    marker = CompletionMarker(root.lm, MARKER)
    if marker.is_current(inputs):
        LOG.info("decoder already tuned for these inputs (%s): nothing to do", marker.path)
        return dict(marker.outputs(), skipped=True)

    found = run_search(root, params, alphabet, scorer, inputs)
    tuned = write_package_with_defaults(scorer, root.tuned_scorer, found["lm_alpha"], found["lm_beta"])
    tuning = {"lm_alpha": found["lm_alpha"], "lm_beta": found["lm_beta"], "wer": found["wer"],
              "metric": found["metric"], "trials": found["trials"], "tuned_on": found["tuned_on"],
              "source_scorer": str(scorer), "scorer": str(tuned.path),
              "scorer_defaults": {"lm_alpha": tuned.alpha, "lm_beta": tuned.beta}}
    write_json_atomic(root.tuning, tuning)
    result = dict(tuning, tuning=str(root.tuning), study=found["study"], study_name=found["study_name"],
                  resumed_from_trials=found["resumed_from"], acoustic_passes=found["acoustic"])
    LOG.info("best: lm_alpha %.4f, lm_beta %.4f, dev %s %.4f; written as the defaults of %s", found["lm_alpha"],
             found["lm_beta"], found["metric"], found["wer"], tuned.path)
    marker.write(inputs, [root.tuning, tuned.path], result)
    return dict(result, skipped=False)
