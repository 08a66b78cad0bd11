"""The limits and retries of each kind of step (Airflow's side of the step table).

What a step is (its CLI, parameters, inputs, kind) is declared once, in ``stt_tasks.steps``; this module
only says how long a kind of step may run and how patiently Airflow retries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Dict

from stt_tasks.stepspec import CPU, DOWNLOAD, TRAINING


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
