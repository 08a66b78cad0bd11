"""Decoder tuning inside coqui: an Optuna search of (lm_alpha, lm_beta) that survives being killed.

Run by the optimize-lm step as ``python -m stt_tasks.training.launch stt_tasks.training.lm_search
<coqui flags>`` (TensorFlow and coqui are imported here, in that subprocess). It follows coqui's own
``util/lm_optimize.py`` (same objective: WER, or CER for a UTF-8 scorer, over the evaluated CSVs, with
pruning after each CSV) with three differences:

- the study lives in SQLite (``lm/lm_optimizer.sqlite``), so a killed run resumes and only runs the
  trials still missing;
- alpha and beta ranges are floats (coqui declares ``lm_alpha_max``/``lm_beta_max`` as int);
- the CSVs are the **dev** sets (the step passes them as ``--test_files``): tuning on test would
  make the test WER optimistic.

Search settings come from the JSON in ``$STT_LM_SEARCH``; the result is written to its ``output``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

from stt_tasks.fsio import write_json_atomic


def run_search(settings: Dict[str, Any]) -> Dict[str, Any]:
    """Run the trials still missing from the stored study; return the best alpha, beta and error."""
    import optuna
    import tensorflow.compat.v1 as tfv1
    from coqui_stt_training.deepspeech_model import create_model
    from coqui_stt_training.evaluate import evaluate
    from coqui_stt_training.train import early_training_checks
    from coqui_stt_training.util.config import Config, initialize_globals_from_cli
    from coqui_stt_training.util.evaluate_tools import wer_cer_batch
    from coqui_stt_training.util.lm_optimize import character_based

    initialize_globals_from_cli()
    early_training_checks()
    is_character_based = character_based()
    study = optuna.create_study(study_name=settings["study"], storage=settings["storage"], direction="minimize",
                                load_if_exists=True)
    # Seeded for reproducibility, but offset by the trials already stored: a resumed run must not draw
    # the same random start-up points again.
    study.sampler = optuna.samplers.TPESampler(seed=int(settings.get("seed", 4568)) + len(study.trials))

    def objective(trial: "optuna.Trial") -> float:
        Config.lm_alpha = trial.suggest_float("lm_alpha", 0.0, float(settings["alpha_max"]))
        Config.lm_beta = trial.suggest_float("lm_beta", 0.0, float(settings["beta_max"]))
        samples = []
        for step, csv_file in enumerate(Config.test_files):
            tfv1.reset_default_graph()
            current = evaluate([csv_file], create_model)
            samples += current
            wer, cer = wer_cer_batch(current)
            trial.report(cer if is_character_based else wer, step)
            if trial.should_prune():
                raise optuna.exceptions.TrialPruned()
        wer, cer = wer_cer_batch(samples)
        return cer if is_character_based else wer

    finished = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE,
                                                       optuna.trial.TrialState.PRUNED)]
    missing = int(settings["n_trials"]) - len(finished)
    print("lm_search: {} trials stored, {} to run".format(len(finished), max(missing, 0)), flush=True)
    if missing > 0:
        study.optimize(objective, n_trials=missing, n_jobs=1)
    best = study.best_trial
    return {
        "lm_alpha": best.params["lm_alpha"],
        "lm_beta": best.params["lm_beta"],
        "wer": best.value,
        "metric": "cer" if is_character_based else "wer",
        "trials": len(study.trials),
        "resumed_from": len(finished),
    }


def main() -> None:
    settings = json.loads(os.environ["STT_LM_SEARCH"])
    result = run_search(settings)
    write_json_atomic(Path(settings["output"]), result)
    print("Best params: lm_alpha={} and lm_beta={} with WER={}".format(result["lm_alpha"], result["lm_beta"],
                                                                       result["wer"]), flush=True)


if __name__ == "__main__":
    main()
