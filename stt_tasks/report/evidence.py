"""What the report describes, read from the artifacts the step is given.

Only public artifacts: the files upstream steps name in their results (test summary and per-clip
output, training record and the loss history it names, decoder tuning and its Optuna study, the
package step's archives and model card) and the importers' ``<corpus>_report.json``. Never another
step's completion marker. Whatever was not given (its step did not run) is listed as missing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.layout import DataRoot
from stt_tasks.report.stats import ClipErrors, clip_errors
from stt_tasks.training.datasets import wav_path, wav_paths

#: The inputs the report links as artifacts, in the order of its table, with what they are.
ARTIFACT_LABELS: Tuple[Tuple[str, str], ...] = (
    ("model_archive", "model archive (TFLite model, alphabet, scorer)"),
    ("checkpoint_archive", "checkpoint archive"),
    ("package_zip", "model zip"),
    ("model_card", "model card"),
    ("test_summary", "test summary"),
    ("test_output", "per-clip transcripts (test and dev)"),
    ("training", "training record"),
    ("history", "loss history"),
    ("tuning", "decoder tuning"),
    ("tuning_study", "decoder tuning trials (Optuna study)"),
)


@dataclass(frozen=True)
class Artifact:
    """A file of the run, linked from the report with its size and checksum."""

    label: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Trial:
    """One decoder-tuning trial: the weights tried and the dev error they gave (pruned: stopped early)."""

    number: int
    lm_alpha: float
    lm_beta: float
    error: Optional[float]
    pruned: bool


@dataclass
class Evidence:
    """Everything the report shows, as read; None or empty where the artifact was not given."""

    corpus_reports: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    training: Optional[Dict[str, Any]] = None
    history: List[Dict[str, Any]] = field(default_factory=list)
    summary: Optional[Dict[str, Any]] = None
    samples: Optional[List[Dict[str, Any]]] = None
    tuning: Optional[Dict[str, Any]] = None
    trials: List[Trial] = field(default_factory=list)
    #: per-clip errors by test CSV (and by dev CSV), for the intervals
    test_sets: Dict[str, List[ClipErrors]] = field(default_factory=dict)
    dev_sets: Dict[str, List[ClipErrors]] = field(default_factory=dict)
    #: every file read, by input name (corpus reports as ``corpus_report:<corpus>``)
    files: Dict[str, Path] = field(default_factory=dict)
    missing: List[str] = field(default_factory=list)

    def releases(self) -> Dict[str, Dict[str, Any]]:
        """The Common Voice release each corpus report names (``release``: name, sha256), by corpus."""
        found = {}
        for corpus, report in self.corpus_reports.items():
            release = report.get("release")
            if isinstance(release, dict) and release.get("release"):
                found[corpus] = release
        return found


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError("{} ({}) does not exist: pass the path its step named, or none.".format(path, what))
    except ValueError as error:
        raise BadInputError("{} ({}) is not JSON ({}): run its step again.".format(path, what, error))


def corpus_report_files(root: DataRoot) -> List[Path]:
    """Each importer's ``<corpus>_report.json`` under ``extracted/data``."""
    return sorted(root.data.glob("*/*_report.json"))


def gather(root: DataRoot, given: Mapping[str, Optional[Path]]) -> Evidence:
    """Read what the report describes from the ``given`` inputs (by input name) and the corpus reports."""
    evidence = Evidence()
    for path in corpus_report_files(root):
        report = _read_json(path, "import report")
        corpus = str(report.get("corpus", path.parent.name))
        evidence.corpus_reports[corpus] = report
        evidence.files["corpus_report:" + corpus] = path
    if not evidence.corpus_reports:
        evidence.missing.append("import reports ({}/*/*_report.json): no corpus imported".format(root.data))
    _read_training(evidence, given.get("training"))
    _read_results(evidence, given.get("test_summary"), given.get("test_output"))
    _read_tuning(evidence, given.get("tuning"), given.get("tuning_study"))
    for name, _label in ARTIFACT_LABELS:
        path = given.get(name)
        if path is not None and name not in evidence.files:
            if not path.is_file():
                raise BadInputError("{} ({}) does not exist: pass the path its step named, or none.".format(
                    path, name.replace("_", " ")))
            evidence.files[name] = path
    if given.get("model_card") is None:
        evidence.missing.append("release archives and model card (the package step did not run)")
    return evidence


def _read_training(evidence: Evidence, training: Optional[Path]) -> None:
    if training is None:
        evidence.missing.append("training record and loss history (the train step did not run)")
        return
    evidence.training = _read_json(training, "training record")
    evidence.files["training"] = training
    history = evidence.training.get("history")
    if history and Path(history).is_file():
        evidence.history = list(_read_json(Path(history), "loss history").get("epochs", []))
        evidence.files["history"] = Path(history)
    else:
        evidence.missing.append("loss history ({})".format(history or "the training record names none"))


def _read_results(evidence: Evidence, summary: Optional[Path], output: Optional[Path]) -> None:
    if summary is None:
        evidence.missing.append("test results (the test step did not run)")
        return
    evidence.summary = _read_json(summary, "test summary")
    evidence.files["test_summary"] = summary
    if output is None and evidence.summary.get("test_output"):
        output = Path(evidence.summary["test_output"])
    if output is None or not output.is_file():
        evidence.missing.append("per-clip transcripts (no confidence intervals)")
        return
    evidence.samples = list(_read_json(output, "test output"))
    evidence.files["test_output"] = output
    evidence.test_sets = clips_by_csv(evidence.samples, (evidence.summary.get("test") or {}).get("per_csv", {}))
    evidence.dev_sets = clips_by_csv(evidence.samples, (evidence.summary.get("dev") or {}).get("per_csv", {}))


def clips_by_csv(samples: List[Mapping[str, Any]], per_csv: Mapping[str, Any]) -> Dict[str, List[ClipErrors]]:
    """Each CSV's clips' errors (a clip belongs to the CSV listing its WAV, as the test step counts it);
    a CSV no longer readable is left out (its figure is shown without an interval)."""
    by_wav = {wav_path(Path("/"), str(s["wav_filename"])): s for s in samples}
    sets: Dict[str, List[ClipErrors]] = {}
    for csv_name in per_csv:
        csv_path = Path(csv_name)
        if csv_path.is_file():
            sets[csv_name] = [clip_errors(by_wav[wav]) for wav in wav_paths(csv_path) if wav in by_wav]
    return sets


def _read_tuning(evidence: Evidence, tuning: Optional[Path], study: Optional[Path]) -> None:
    if tuning is None:
        evidence.missing.append("decoder tuning (optimize-lm did not run)")
        return
    evidence.tuning = _read_json(tuning, "decoder tuning")
    evidence.files["tuning"] = tuning
    if study is None or not study.is_file():
        evidence.missing.append("decoder tuning trials (no Optuna study given)")
        return
    evidence.files["tuning_study"] = study
    evidence.trials = read_trials(study, evidence.tuning)
    if not evidence.trials:
        evidence.missing.append("decoder tuning trials ({} holds no study with the tuned values)".format(study))


def read_trials(study: Path, tuning: Mapping[str, Any]) -> List[Trial]:
    """The finished trials of the Optuna study in ``study`` whose best trial is the ``tuning``'s.

    The file holds one study per set of inputs (checkpoint, dev sets, scorer); the tuning names its
    best weights and error, which identify its study. Read-only: the file is optimize-lm's.
    """
    uri = "file:{}?mode=ro".format(study.absolute().as_posix())
    try:
        connection = sqlite3.connect(uri, uri=True)
        try:
            rows = connection.execute(
                "SELECT t.study_id, t.number, t.state, p.param_name, p.param_value, v.value FROM trials t "
                "JOIN trial_params p ON p.trial_id = t.trial_id "
                "LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
                "WHERE t.state IN ('COMPLETE', 'PRUNED') ORDER BY t.study_id, t.number").fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise BadInputError("{}: not a readable Optuna study ({}); run optimize-lm again.".format(study, error))
    studies: Dict[int, Dict[int, Dict[str, Any]]] = {}
    for study_id, number, state, name, value, error in rows:
        trial = studies.setdefault(study_id, {}).setdefault(number, {"state": state, "error": error})
        trial[name] = value
    for trials in studies.values():
        found = [Trial(number, float(t["lm_alpha"]), float(t["lm_beta"]), t["error"], t["state"] == "PRUNED")
                 for number, t in sorted(trials.items()) if "lm_alpha" in t and "lm_beta" in t]
        if any(_is_best(trial, tuning) for trial in found):
            return found
    return []


def _close(a: Any, b: Any) -> bool:
    return abs(float(a) - float(b)) <= 1e-9  # both are the same double, stored as SQLite REAL and JSON


def _is_best(trial: Trial, tuning: Mapping[str, Any]) -> bool:
    return (not trial.pruned and trial.error is not None and _close(trial.lm_alpha, tuning["lm_alpha"])
            and _close(trial.lm_beta, tuning["lm_beta"]) and _close(trial.error, tuning["wer"]))


def best_trial(trials: List[Trial], tuning: Optional[Mapping[str, Any]]) -> Optional[Trial]:
    """The trial whose weights the tuning chose."""
    for trial in trials:
        if tuning and _is_best(trial, tuning):
            return trial
    return None
