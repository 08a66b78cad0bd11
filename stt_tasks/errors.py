"""Errors a step raises, and the process exit codes they map to.

The exit codes are part of the contract with Airflow: 2 means the user must fix an input,
``EXIT_NOTHING_TO_DO`` means an optional input is absent so the task is skipped,
``EXIT_SETUP`` means the machine must be fixed (permissions, a missing tool): neither is worth a retry.
``EXIT_TEMPFAIL`` (a full disk) and anything else are failures worth a retry after the task's delay.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
#: The file system of the data root is full (sysexits' EX_TEMPFAIL): retried once space is freed.
EXIT_TEMPFAIL = 75
#: The machine is set up wrong for the step: permission denied, a tool not installed (sysexits' EX_CONFIG).
EXIT_SETUP = 78
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


class DiskFullError(StepError):
    """The data root's file system filled up: the message says what was needed and what is free."""

    exit_code = EXIT_TEMPFAIL


class SetupError(StepError):
    """The machine, not the input, is wrong (a file the step's user may not write, a missing tool)."""

    exit_code = EXIT_SETUP
