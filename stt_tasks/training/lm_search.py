"""Decoder tuning: an Optuna search of (lm_alpha, lm_beta) over stored acoustic outputs, resumable.

It follows coqui's own ``util/lm_optimize.py`` (same objective: WER, or CER for a UTF-8 scorer, over the
dev CSVs, with pruning after each CSV) with these differences:

- a trial **decodes only**: the acoustic model ran once over the dev CSVs
  (:mod:`stt_tasks.training.acoustic`), and each trial decodes those stored outputs with coqui's decoder
  on every core after ``Scorer.reset_params(alpha, beta)`` (coqui's ``lm_optimize.py`` rebuilds the graph,
  reloads the checkpoint and runs the acoustic model every trial; its ``lm_optimize_wav2vec2am.py``
  works this way);
- the study lives in SQLite (``lm/lm_optimizer.sqlite``), so a killed run resumes and only runs the
  trials still missing;
- alpha and beta ranges are floats (coqui declares ``lm_alpha_max``/``lm_beta_max`` as int);
- the CSVs are the **dev** sets: tuning on test would make the test WER optimistic.

Runs in the step's process (numpy, optuna and the decoder wheel; no TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from stt_tasks.progress import LOG
from stt_tasks.training.stored_outputs import StoredDecoder, error_rate, load_clips, samples

SEED = 4568


@dataclass(frozen=True)
class SearchSettings:
    """One search: its ranges and trials, its study (name and storage), and what it decodes."""

    alpha_max: float
    beta_max: float
    n_trials: int
    study: str
    storage: str
    stored_outputs: List[Path]
    alphabet: Path
    scorer: Path
    beam_width: int
    seed: int = SEED


def run_search(settings: SearchSettings, decoder: Optional[StoredDecoder] = None) -> Dict[str, Any]:
    """Run the trials still missing from the stored study; return the best alpha, beta and error."""
    import optuna

    decoder = decoder or StoredDecoder(settings.alphabet, settings.scorer, settings.beam_width)
    metric = "cer" if decoder.is_utf8_mode() else "wer"
    dev_sets = [load_clips(path) for path in settings.stored_outputs]  # in memory for every trial
    LOG.info("decoding %d dev clips per trial (%.1f MB of stored outputs in memory)",
             sum(len(c.lengths) for c in dev_sets), sum(c.nbytes for c in dev_sets) / 1e6)
    study = optuna.create_study(study_name=settings.study, storage=settings.storage, direction="minimize",
                                load_if_exists=True)
    # Seeded for reproducibility, but offset by the trials already stored: a resumed run must not draw
    # the same random start-up points again.
    study.sampler = optuna.samplers.TPESampler(seed=settings.seed + len(study.trials))

    def objective(trial: "optuna.Trial") -> float:
        decoder.set_weights(trial.suggest_float("lm_alpha", 0.0, float(settings.alpha_max)),
                            trial.suggest_float("lm_beta", 0.0, float(settings.beta_max)))
        records: List[Dict[str, Any]] = []
        for step, clips in enumerate(dev_sets):
            current = samples(clips, decoder.transcribe(clips))
            records += current
            trial.report(error_rate(current, metric), step)
            if trial.should_prune():
                raise optuna.exceptions.TrialPruned()
        return error_rate(records, metric)

    finished = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE,
                                                       optuna.trial.TrialState.PRUNED)]
    missing = int(settings.n_trials) - len(finished)
    LOG.info("lm_search: %d trials stored, %d to run", len(finished), max(missing, 0))
    if missing > 0:
        study.optimize(objective, n_trials=missing, n_jobs=1)  # the decoder already uses every core
    best = study.best_trial
    return {
        "lm_alpha": best.params["lm_alpha"],
        "lm_beta": best.params["lm_beta"],
        "wer": best.value,
        "metric": metric,
        "trials": len(study.trials),
        "resumed_from": len(finished),
    }
