"""The vocabulary of the step table: what a step is, declared once (no Airflow import).

A :class:`StepSpec` says everything the CLI, the DAG and the step operator need to know about one
step: its command-line name and function, the run parameters it takes (names in
:mod:`stt_tasks.parameters`), its own command-line options, the upstream artifacts it consumes
(:class:`Input`), the artifacts it names in its JSON result, its image kind, whether it may download,
when the DAG skips it and its trigger rule. The table itself is :mod:`stt_tasks.steps`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

#: Kinds of steps: which image and Docker engine run them (a downloading step gets a network).
CPU, TRAINING, DOWNLOAD = "cpu", "training", "download"


@dataclass(frozen=True)
class Option:
    """A command-line option of one step that is not a run parameter (the DAG never sets it)."""

    flags: Tuple[str, ...]
    help: str
    type: Optional[Callable[[str], Any]] = None
    default: Any = None
    #: argparse action (``store_true`` for a switch); None: takes a value
    action: Optional[str] = None
    nargs: Optional[str] = None
    required: bool = False
    metavar: Optional[str] = None

    @property
    def dest(self) -> str:
        """The option's Python name (argparse's: the first long flag, ``-`` as ``_``)."""
        long = [flag for flag in self.flags if flag.startswith("--")] or list(self.flags)
        return long[0].lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Declare the option on ``parser``."""
        settings: Dict[str, Any] = {"help": self.help.replace("%", "%%"), "default": self.default, "dest": self.dest}
        if self.action:
            settings["action"] = self.action
        else:
            for key in ("type", "nargs", "metavar"):
                if getattr(self, key) is not None:
                    settings[key] = getattr(self, key)
            settings["required"] = self.required
        parser.add_argument(*self.flags, **settings)


@dataclass(frozen=True)
class Input:
    """An upstream artifact a step consumes, passed as ``--<name> PATH``.

    ``producers`` are (step name, key of its JSON result), tried in order: the first producer that
    ran and named the artifact gives it (the tuned scorer of optimize-lm, else the lm step's). When
    none did, the option is left out and the step uses ``default``, a path under the data root.
    """

    name: str
    producers: Tuple[Tuple[str, str], ...]
    help: str
    #: the path used when no producer named one (None: the step function decides)
    default: Optional[Callable[[Any], Path]] = None

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class StepCall:
    """What a step function receives: the data root, the language, the parsed run parameters and
    options (by name), and the upstream artifacts given (None where not: the step's default)."""

    root: Any  # stt_tasks.layout.DataRoot (kept loose: this module imports nothing of the pipeline)
    language: str
    params: Mapping[str, Any]
    options: Mapping[str, Any]
    inputs: Mapping[str, Optional[Path]]

    def input(self, name: str) -> Optional[Path]:
        return self.inputs.get(name)


StepFunction = Callable[[StepCall], Dict[str, Any]]


@dataclass(frozen=True)
class StepSpec:
    """One step of the pipeline (one task of the training DAG, or a CLI tool with ``in_dag`` off)."""

    #: the CLI name (``optimize-lm``); the DAG's task id is it with ``_`` for ``-``
    name: str
    help: str
    function: StepFunction
    parameters: Tuple[str, ...] = ()
    options: Tuple[Option, ...] = ()
    inputs: Tuple[Input, ...] = ()
    #: keys of the JSON result that name artifacts (paths under the data root)
    outputs: Tuple[str, ...] = ()
    kind: str = CPU
    #: boolean run parameter that makes the step download: it then runs as a ``download`` step
    downloads_with: str = ""
    #: run parameter that must be non-empty for the step to run; the DAG skips it otherwise
    runs_if: str = ""
    #: (list run parameter, value): the DAG runs the step only when the list holds the value
    runs_if_listed: Tuple[str, str] = ("", "")
    #: Airflow trigger rule of its task
    trigger_rule: str = "all_success"
    #: a task of the training DAG (sample-corpus and params are CLI tools only)
    in_dag: bool = True
    #: the CLI words before the options, when not the name alone (``import common-voice``)
    words: Tuple[str, ...] = ()
    #: the task id, when not the name with ``_`` for ``-``
    id: str = ""
    #: the DAG's task group (the importers run side by side in one)
    group: str = ""
    #: the stage ``stop_after`` names (the importers are one stage: ``import``)
    stage_name: str = ""
    #: values of the run's context the step receives, as the options of the same names (``run_id``:
    #: ``--run-id``); the operator renders them from the Airflow run, the CLI's option defaults apply by hand
    run_context: Tuple[str, ...] = ()

    @property
    def command(self) -> Tuple[str, ...]:
        return self.words or (self.name,)

    @property
    def task_id(self) -> str:
        return self.id or self.name.replace("-", "_")

    @property
    def stage(self) -> str:
        return self.stage_name or self.task_id


def first_produced(input_spec: Input, results: Mapping[str, Optional[Mapping[str, Any]]]) -> Optional[str]:
    """The path the first producer of ``input_spec`` named in its result (``results`` by step name)."""
    for step, key in input_spec.producers:
        result = results.get(step) or {}
        value = result.get(key)
        if value:
            return str(value)
    return None
