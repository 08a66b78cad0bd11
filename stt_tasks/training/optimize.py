"""The optimize-lm step: tune the decoder's lm_alpha/lm_beta on the dev sets, then apply them.

``LM_EVALUATE_RANGE=alpha_max,beta_max,n_trials`` (empty: nothing to do, the task is skipped). The
search itself runs in coqui's process (:mod:`stt_tasks.training.lm_search`); its Optuna study is kept in
``lm/lm_optimizer.sqlite`` so a killed run resumes. The best values go to ``lm/opt_lm.json`` (the test
and export steps use them while LM_ALPHA and LM_BETA are 0.0, as the original pipeline did); then the
scorer is rebuilt with them as its defaults by the LM step (``lm --rebuild-scorer``) when the scorer
tuned is the one that step built (``lm/kenlm.scorer`` beside its ``lm.binary``), otherwise the values are
only recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from stt_tasks.errors import NothingToDoError, StepError
from stt_tasks.fsio import CompletionMarker, file_fingerprint, json_digest, write_json_atomic
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.training import checkpoints as ckpt
from stt_tasks.training.coqui import run_coqui
from stt_tasks.training.datasets import fingerprints, require_csvs
from stt_tasks.training.evaluate import require_checkpoint, scorer_path
from stt_tasks.training.flags import parameter_flags

MARKER = ".optimize.completed.json"
STUDY_FILE = "lm_optimizer.sqlite"
RESULT_FILE = "opt_lm.json"


def rebuild_scorer(root: DataRoot, scorer: Path, alphabet: Path, alpha: float, beta: float) -> bool:
    """Re-package ``scorer`` with the tuned defaults (``lm --rebuild-scorer``) when the lm step built it.

    A scorer from elsewhere (not ``lm/kenlm.scorer``, or no ``lm/lm.binary`` beside it, e.g. a released
    package) is not ours to re-package: the values are then only recorded, and test/export use them from
    ``opt_lm.json``.
    """
    if scorer != root.scorer or not (root.lm / "lm.binary").is_file():
        LOG.warning("%s was not built by the lm step: alpha %.4f, beta %.4f are recorded in %s and used by "
                    "test/export, the scorer keeps its defaults", scorer, alpha, beta, root.lm / RESULT_FILE)
        return False
    command = [sys.executable, "-m", "stt_tasks", "lm", "--rebuild-scorer", "--data-root", str(root.root),
               "--alphabet", str(alphabet), "--lm-alpha", repr(alpha), "--lm-beta", repr(beta)]
    completed = subprocess.run(command, stdout=sys.stderr)
    if completed.returncode != 0:
        raise StepError("`{}` failed (exit {}); its output is above.".format(" ".join(command), completed.returncode))
    return True


def optimize_lm(root: DataRoot, params: Mapping[str, Any], alphabet: Optional[Path] = None,
                scorer: Optional[Path] = None) -> Dict[str, Any]:
    """Run (or resume) the search; write ``lm/opt_lm.json``; return the step's JSON result.

    ``alphabet`` and ``scorer`` default to the alphabet and lm steps' outputs.
    """
    search_range = params["lm_evaluate_range"]
    if search_range is None:
        raise NothingToDoError("LM_EVALUATE_RANGE is empty: decoder tuning not requested (set it to "
                               "alpha_max,beta_max,n_trials, for example 5,5,600).")
    alphabet = alphabet or root.alphabet
    scorer = scorer_path(root, scorer)
    if scorer is None:
        raise NothingToDoError("no scorer at {}: decoder tuning needs the LM step's kenlm.scorer."
                               .format(root.scorer))
    alpha_max, beta_max, n_trials = search_range
    dev_csvs = require_csvs(root, "dev")
    require_checkpoint(root)
    output = root.lm / RESULT_FILE
    inputs = {
        "dev_csvs": fingerprints(dev_csvs),
        "checkpoint": [file_fingerprint(p, with_hash=False) for p in ckpt.checkpoint_files(root.checkpoints)],
        # Not the scorer's bytes: rebuilding it with the tuned defaults must not make this step stale.
        "scorer": str(scorer),
        "lm_binary": file_fingerprint(root.lm / "lm.binary") if (root.lm / "lm.binary").is_file() else None,
        "range": [alpha_max, beta_max, n_trials],
        "beam_width": params["beam_width"],
        "batch_size": params["batch_size"],
    }
    marker = CompletionMarker(root.lm, MARKER)
    if marker.is_current(inputs):
        LOG.info("decoder already tuned for these inputs (%s): nothing to do", marker.path)
        return dict(marker.outputs(), skipped=True)
    study = root.lm / STUDY_FILE
    # The study is named by everything but n_trials: a killed run, or a later run asking for more trials,
    # continues the same study; other inputs (checkpoint, dev sets, ranges) start a new one.
    study_name = "lm-{:016x}".format(hash_inputs(dict(inputs, range=[alpha_max, beta_max])))
    flags: Dict[str, Any] = parameter_flags({"batch_size": params["batch_size"], "beam_width": params["beam_width"]})
    flags.update({
        "test_files": [str(p) for p in dev_csvs],  # tune on dev, never on test
        "checkpoint_dir": str(root.checkpoints),
        "load_evaluate": "best",
        "alphabet_config_path": str(alphabet),
        "scorer_path": str(scorer),
        "train_cudnn": False,
        "show_progressbar": False,
    })
    settings = {"alpha_max": alpha_max, "beta_max": beta_max, "n_trials": n_trials, "study": study_name,
                "storage": "sqlite:///{}".format(study), "output": str(root.lm / (".opt_lm.search.json"))}
    LOG.info("tuning lm_alpha in [0, %g], lm_beta in [0, %g], %d trials on %d dev CSVs (study %s in %s)",
             alpha_max, beta_max, n_trials, len(dev_csvs), study_name, study)
    run_coqui("stt_tasks.training.lm_search", flags, extra_env={"STT_LM_SEARCH": json.dumps(settings)})
    found = json.loads(Path(settings["output"]).read_text(encoding="utf-8"))
    Path(settings["output"]).unlink()
    best = {"lm_alpha": found["lm_alpha"], "lm_beta": found["lm_beta"], "wer": found["wer"],
            "metric": found["metric"], "trials": found["trials"], "tuned_on": [str(p) for p in dev_csvs]}
    write_json_atomic(output, best)
    rebuilt = rebuild_scorer(root, scorer, alphabet, best["lm_alpha"], best["lm_beta"])
    result = dict(best, output=str(output), study=str(study), study_name=study_name,
                  resumed_from_trials=found["resumed_from"], scorer_rebuilt=rebuilt)
    LOG.info("best: lm_alpha %.4f, lm_beta %.4f, dev %s %.4f", best["lm_alpha"], best["lm_beta"], best["metric"],
             best["wer"])
    marker.write(inputs, [output], result)
    return dict(result, skipped=False)


def hash_inputs(inputs: Mapping[str, Any]) -> int:
    """A stable 64-bit number for the inputs (Python's ``hash`` of a str changes between runs)."""
    return int(json_digest(inputs)[:16], 16)
