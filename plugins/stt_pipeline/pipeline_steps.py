"""The pipeline's steps: their order, which image kind runs them, their limits and retries.

One table, read by the operator (image, mounts, timeouts) and by the DAG factory (tasks, order,
which run parameters each step receives). Step names are the ``stt_tasks`` CLI's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Dict, Tuple

#: Kinds of steps: which image and Docker engine run them, and with what network.
CPU, TRAINING, DOWNLOAD = "cpu", "training", "download"


@dataclass(frozen=True)
class StepKind:
    """Limits of a kind of step: how long one try may run, how often and how patiently it is retried."""

    name: str
    execution_timeout: timedelta
    retries: int
    #: delay before the first retry; it doubles on each further try, up to ``max_retry_delay``
    retry_delay: timedelta
    max_retry_delay: timedelta


#: Downloads meet flaky servers and rate limits: more tries, longer waits. Training resumes from its
#: checkpoints, so a retry loses little; its failures (memory, a lost GPU) rarely heal in seconds.
KINDS: Dict[str, StepKind] = {
    CPU: StepKind(CPU, timedelta(hours=12), retries=2, retry_delay=timedelta(minutes=1),
                  max_retry_delay=timedelta(minutes=15)),
    DOWNLOAD: StepKind(DOWNLOAD, timedelta(hours=24), retries=4, retry_delay=timedelta(minutes=5),
                       max_retry_delay=timedelta(hours=2)),
    TRAINING: StepKind(TRAINING, timedelta(days=7), retries=2, retry_delay=timedelta(minutes=2),
                       max_retry_delay=timedelta(minutes=30)),
}
#: Multiplier of the retry delay from one try to the next (Airflow's ``retry_exponential_backoff``).
RETRY_BACKOFF = 2.0


def limits_of(kind: str, may_download: bool) -> StepKind:
    """The limits of a step of ``kind``; a step that may download gets the download kind's.

    Airflow fixes a task's retries when a run is created, before the step sees the run's
    ``download`` parameter, so a step that downloads on demand is planned for downloading.
    """
    return KINDS[DOWNLOAD] if may_download else KINDS[kind]


@dataclass(frozen=True)
class PipelineStep:
    """A task of the training DAG: its CLI step, kind and the run parameters it takes."""

    task_id: str
    cli: str
    kind: str
    parameters: Tuple[str, ...] = ()
    #: upstream artifacts passed as options: (option, upstream task id, key of its JSON result)
    inputs: Tuple[Tuple[str, str, str], ...] = ()
    #: run parameters holding a list of data-root paths, passed as one option with several values
    path_lists: Tuple[Tuple[str, str], ...] = ()
    #: run parameters passed as options verbatim: (option, parameter)
    extra: Tuple[Tuple[str, str], ...] = ()
    #: boolean run parameters passed as a flag when true: (flag, parameter)
    flags: Tuple[Tuple[str, str], ...] = ()
    #: boolean run parameter that makes the step download: it then runs as a download step (network)
    downloads_with: str = ""


IMPORT_PARAMETERS = ("english_compatible",)

#: Upstream artifacts, as ``PipelineStep.inputs``: the option, the task that makes it, its result's key.
ALPHABET = ("--alphabet", "alphabet", "alphabet")
SCORER = ("--scorer", "lm", "scorer")
MODEL = ("--model", "export", "model")

#: The corpora of the original French pipeline, by CLI name; Common Voice first.
CORPORA: Tuple[str, ...] = (
    "common-voice",
    "lingua-libre",
    "trainingspeech",
    "african-accented-french",
    "m-ailabs",
    "mls",
    "ccpmf",
)

PREFLIGHT = PipelineStep("preflight", "preflight", CPU)
AFTER_IMPORT: Tuple[PipelineStep, ...] = (
    # speakers and sentences shared between train and dev/test: fails when our own splits leak
    PipelineStep("leakage", "leakage", CPU),
    PipelineStep("alphabet", "alphabet", CPU, ("english_compatible",)),
    PipelineStep(
        "lm",
        "lm",
        CPU,
        ("lm_top_k", "english_compatible", "lm_alpha", "lm_beta", "lm_add_excluded_max_sec"),
        path_lists=(("--text", "lm_texts"),),
        extra=(("--memory", "lm_memory"),),
        flags=(("--download", "download"),),
        downloads_with="download",
        inputs=(ALPHABET,),
    ),
    PipelineStep(
        "train",
        "train",
        TRAINING,
        ("batch_size", "epochs", "learning_rate", "dropout", "n_hidden", "amp", "early_stop", "train_cudnn",
         "enable_augments", "augmentation_arguments", "cache_for_epochs", "feature_cache", "skip_batch_test",
         "log_level"),
        inputs=(ALPHABET,),
    ),
    # tunes lm_alpha/lm_beta on the dev sets (never on test); skipped without lm_evaluate_range
    PipelineStep("optimize_lm", "optimize-lm", TRAINING, ("lm_evaluate_range", "batch_size", "beam_width"),
                 inputs=(ALPHABET, SCORER)),
    # after the decoder tuning, so that test reports on test with the tuned alpha/beta
    PipelineStep("test", "test", TRAINING, ("batch_size", "beam_width", "lm_alpha", "lm_beta"),
                 inputs=(ALPHABET, SCORER)),
    PipelineStep("export", "export", CPU, ("beam_width", "lm_alpha", "lm_beta"), inputs=(ALPHABET, SCORER)),
    # the exported model in the stt runtime must agree with the checkpoint (guards the TFLite export)
    PipelineStep("transcribe", "transcribe", CPU, ("beam_width", "lm_alpha", "lm_beta"), inputs=(MODEL, SCORER)),
    PipelineStep("package", "package", CPU, inputs=(MODEL, ALPHABET, SCORER)),
    PipelineStep("report", "report", CPU),
)

#: Task ids in pipeline order (importers count as one stage, "import"), for ``stop_after``.
STAGES: Tuple[str, ...] = ("preflight", "import") + tuple(step.task_id for step in AFTER_IMPORT)


def import_task_id(corpus: str) -> str:
    return corpus.replace("-", "_")


def stage_of(task_id: str) -> str:
    """The stage of a task id (``importers.common_voice`` is in stage ``import``)."""
    return "import" if task_id.startswith("importers.") else task_id


def after_stop(task_id: str, stop_after: str) -> bool:
    """True when ``task_id`` comes after the ``stop_after`` stage and must be skipped."""
    if not stop_after:
        return False
    return STAGES.index(stage_of(task_id)) > STAGES.index(stop_after)
