"""Errors a step raises, and the process exit codes they map to.

The exit codes are part of the contract with Airflow: 2 means the user must fix an input,
``EXIT_NOTHING_TO_DO`` means an optional input is absent so the task is skipped, anything else
is a failure worth a retry.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
#: An optional input (a corpus not placed in ``sources/``) is absent: the DAG marks the task skipped.
EXIT_NOTHING_TO_DO = 99


class StepError(Exception):
    """Base class of the errors that end a step with a message rather than a traceback."""

    exit_code = EXIT_FAILURE


class BadInputError(StepError):
    """An input is wrong: the message names the file (and line or clip) and what to do."""

    exit_code = EXIT_BAD_INPUT


class NothingToDoError(StepError):
    """The step's optional input is not present; nothing was done and nothing is wrong."""

    exit_code = EXIT_NOTHING_TO_DO
