"""Where a (re)started training stands: the step it started from, the epochs it finished, its losses.

coqui names its checkpoints by the global step, so the epochs a killed run finished are
``(last checkpoint's step - the step this training started from) // steps per epoch``. The start step is
kept in a progress marker beside the checkpoints (``.train.progress.json``) for as long as the same
inputs are being trained; new inputs start counting again from the last checkpoint.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from stt_tasks.fsio import CompletionMarker, write_json_atomic
from stt_tasks.progress import LOG, duration_text
from stt_tasks.training import checkpoints as ckpt

PROGRESS = ".train.progress.json"
HISTORY = "training_history.json"

_TRAIN_LOSS = re.compile(r"Finished training epoch (\d+) - loss: ([-\d.naif]+)")
_DEV_LOSS = re.compile(r"Finished validating epoch (\d+) on (.+) - loss: ([-\d.naif]+)")
_EPOCH_START = re.compile(r"Training epoch (\d+)\.\.\.")
#: coqui prints a rule of 80 dashes when an epoch (training and every validation) is over
_EPOCH_END = re.compile(r"^-{80}\s*$")


@dataclass(frozen=True)
class ResumePoint:
    """How far the training of the current inputs got, and what it still owes."""

    #: global step of the last checkpoint (0: none yet)
    current_step: int
    #: global step the training of these inputs started from
    start_step: int
    steps_per_epoch: int
    #: epochs asked for (the ``epochs`` parameter)
    epochs: int

    @property
    def epochs_done(self) -> int:
        return max(0, (self.current_step - self.start_step) // self.steps_per_epoch)

    @property
    def remaining(self) -> int:
        """The epochs still to run (0 when done)."""
        return max(0, self.epochs - self.epochs_done)


def steps_per_epoch(clips: int, batch_size: int) -> int:
    """coqui's optimiser steps per epoch: one per batch, the last one partial."""
    return max(1, math.ceil(clips / batch_size))


def resume_point(checkpoints: Path, inputs: Mapping[str, Any], epochs: int, steps: int,
                 finished_before: bool) -> ResumePoint:
    """Where training ``inputs`` stands, recording its start step on a first start.

    ``finished_before``: a training of other inputs completed here, so these continue from its checkpoint.
    """
    current_step = ckpt.global_step(checkpoints)
    progress = CompletionMarker(checkpoints, PROGRESS)
    recorded = progress.read()
    if recorded is not None and recorded.get("inputs") == _jsonable(inputs):
        start_step = int(recorded["result"]["start_step"])
    else:
        if current_step and finished_before:
            LOG.warning("inputs changed since the last training: continuing from the checkpoint at step %d for "
                        "%d epochs", current_step, epochs)
        start_step = current_step
        progress.write(inputs, [], {"start_step": start_step})
    return ResumePoint(current_step, start_step, steps, epochs)


def forget_progress(checkpoints: Path) -> None:
    """Drop the progress marker once the training is complete (the completion marker takes over)."""
    CompletionMarker(checkpoints, PROGRESS).clear()


class LossHistory:
    """Per-epoch train and dev losses parsed from coqui's log, saved (atomically) after every line that
    carries one, so the report has every finished epoch even if the run is killed.

    Each finished epoch is also logged as one line a person can follow: its losses, the time it took
    and, when ``planned_epochs`` (the epochs this run is to train) is known, the ETA of the rest at the
    mean pace so far.
    """

    def __init__(self, path: Path, planned_epochs: Optional[int] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.epochs: List[Dict[str, Any]] = read_history(path)
        self.first_epoch = len(self.epochs)
        self.planned_epochs = planned_epochs
        self._clock = clock
        self._epoch_started = clock()
        self._durations: List[float] = []
        #: the epoch whose training loss arrived and whose line is not logged yet
        self._pending: Optional[int] = None

    def _entry(self, local_epoch: str) -> Dict[str, Any]:
        epoch = self.first_epoch + int(local_epoch)
        while len(self.epochs) <= epoch:
            self.epochs.append({"epoch": len(self.epochs), "train_loss": None, "dev_loss": {}})
        return self.epochs[epoch]

    def feed(self, line: str) -> None:
        """Record the loss a coqui log line reports, if any (coqui counts epochs from 0 in every run);
        log the epoch once coqui says it is over."""
        if _EPOCH_START.search(line):
            self._log_pending()
            self._epoch_started = self._clock()
            return
        if _EPOCH_END.match(line):
            self._log_pending()
            return
        match = _TRAIN_LOSS.search(line)
        if match:
            entry = self._entry(match.group(1))
            entry["train_loss"] = float(match.group(2))
            self._pending = int(entry["epoch"])
            self.save()
            return
        match = _DEV_LOSS.search(line)
        if match:
            self._entry(match.group(1))["dev_loss"][match.group(2)] = float(match.group(3))
            self.save()

    def _log_pending(self) -> None:
        if self._pending is None:
            return
        now = self._clock()
        self._durations.append(now - self._epoch_started)
        self._epoch_started = now
        LOG.info("%s", self.epoch_line(self.epochs[self._pending], self._durations[-1]))
        self._pending = None

    def epoch_line(self, entry: Mapping[str, Any], seconds: float) -> str:
        """``epoch 3/60: train loss 45.123, dev loss 50.456 (cv-fr_dev.csv), 1 min 23 s; 57 to go, ETA ...``."""
        finished_here = len(self._durations)
        planned = self.planned_epochs
        total = "/{}".format(self.first_epoch + planned) if planned else ""
        dev = entry.get("dev_loss") or {}
        dev_text = ", dev loss " + ", ".join("{:.3f} ({})".format(loss, Path(name).name)
                                             for name, loss in sorted(dev.items())) if dev else ""
        train = entry.get("train_loss")
        text = "epoch {}{}: train loss {}{}, {}".format(
            int(entry["epoch"]) + 1, total, "{:.3f}".format(train) if train is not None else "?", dev_text,
            duration_text(seconds))
        if planned:
            remaining = max(0, planned - finished_here)
            mean = sum(self._durations) / finished_here
            text += "; {} to go, ETA {}".format(remaining, duration_text(remaining * mean)) if remaining else \
                "; last planned epoch"
        return text

    def save(self) -> None:
        """Write the history: the report step reads it."""
        write_json_atomic(self.path, {"epochs": self.epochs})


def read_history(path: Path) -> List[Dict[str, Any]]:
    """The epochs recorded so far (none when the file is absent)."""
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("epochs", []))


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), to compare with a recorded marker."""
    return json.loads(json.dumps(value))
