"""The train step: coqui-stt-training on every imported corpus, resumable, with transfer learning.

- Data: every ``*train.csv`` and ``*dev.csv`` under ``extracted/data``; alphabet ``models/alphabet.txt``.
- Resume: checkpoints live in ``checkpoints/``; a killed run restarts from the last checkpoint and runs
  only the epochs it had not finished (counted from the global step in coqui's checkpoint names).
- Transfer learning: with a checkpoint mounted at ``/transfer-checkpoint`` (read-only) and none of our
  own yet, training starts from it; when its alphabet differs from ours the output layer is
  re-initialised (``drop_source_layers 1``), as coqui requires.
- Done is done: a completion marker records the CSVs, alphabet and parameters; the same inputs again
  do nothing, changed inputs continue training from the checkpoint.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, sha256_file, write_json_atomic
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.training import checkpoints as ckpt
from stt_tasks.training.capabilities import resolve_training_switches
from stt_tasks.training.coqui import run_coqui
from stt_tasks.training.datasets import check_clips_exist, fingerprints, require_csvs
from stt_tasks.training.flags import parameter_flags

DEFAULT_TRANSFER_DIR = Path("/transfer-checkpoint")
TRAINING_PARAMETERS = ("batch_size", "epochs", "learning_rate", "dropout", "n_hidden", "early_stop", "amp",
                       "train_cudnn")
MARKER = ".train.completed.json"
PROGRESS = ".train.progress.json"
HISTORY = "training_history.json"

_TRAIN_LOSS = re.compile(r"Finished training epoch (\d+) - loss: ([-\d.naif]+)")
_DEV_LOSS = re.compile(r"Finished validating epoch (\d+) on (.+) - loss: ([-\d.naif]+)")


def alphabet_labels(path: Path) -> List[str]:
    """Labels of a Coqui alphabet file (comments skipped, ``\\#`` unescaped)."""
    labels = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("#") or line == "":
            continue
        labels.append("#" if line == "\\#" else line)
    return labels


def transfer_source(transfer_dir: Path, own_checkpoints: Path, alphabet: Path) -> Optional[Dict[str, Any]]:
    """How to start from a mounted checkpoint, or None (absent, or we already have our own)."""
    if ckpt.has_checkpoint(own_checkpoints) or not ckpt.has_checkpoint(transfer_dir):
        return None
    source_alphabet = transfer_dir / "alphabet.txt"
    if source_alphabet.is_file():
        differs = alphabet_labels(source_alphabet) != alphabet_labels(alphabet)
    else:
        LOG.warning("%s has no alphabet.txt: assuming its alphabet differs from %s", transfer_dir, alphabet)
        differs = True
    return {
        "checkpoint_dir": str(transfer_dir),
        "alphabet_differs": differs,
        "drop_source_layers": 1 if differs else 0,
        "n_hidden": ckpt.checkpoint_n_hidden(transfer_dir),
        "global_step": ckpt.global_step(transfer_dir, "best_dev_checkpoint") or ckpt.global_step(transfer_dir),
    }


class LossHistory:
    """Per-epoch train and dev losses parsed from coqui's log, saved (atomically) after every line that
    carries one, so the report has every finished epoch even if the run is killed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.epochs: List[Dict[str, Any]] = read_history(path)
        self.first_epoch = len(self.epochs)

    def _entry(self, local_epoch: str) -> Dict[str, Any]:
        epoch = self.first_epoch + int(local_epoch)
        while len(self.epochs) <= epoch:
            self.epochs.append({"epoch": len(self.epochs), "train_loss": None, "dev_loss": {}})
        return self.epochs[epoch]

    def feed(self, line: str) -> None:
        match = _TRAIN_LOSS.search(line)
        if match:
            self._entry(match.group(1))["train_loss"] = float(match.group(2))
            self.save()
            return
        match = _DEV_LOSS.search(line)
        if match:
            self._entry(match.group(1))["dev_loss"][match.group(2)] = float(match.group(3))
            self.save()

    def save(self) -> None:
        write_json_atomic(self.path, {"epochs": self.epochs})


def read_history(path: Path) -> List[Dict[str, Any]]:
    import json

    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("epochs", []))


def train(root: DataRoot, params: Mapping[str, Any], transfer_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Train (or resume, or do nothing if done); return the step's JSON result."""
    transfer_dir = transfer_dir or Path(os.environ.get("STT_TRANSFER_CHECKPOINT", str(DEFAULT_TRANSFER_DIR)))
    train_csvs = require_csvs(root, "train")
    dev_csvs = require_csvs(root, "dev")
    alphabet = root.models / "alphabet.txt"
    if not alphabet.is_file():
        raise BadInputError("{} is missing: run the alphabet step first.".format(alphabet))
    switches = resolve_training_switches(params)
    checkpoints = root.checkpoints
    checkpoints.mkdir(parents=True, exist_ok=True)
    transfer = transfer_source(transfer_dir, checkpoints, alphabet)

    inputs = {
        "train_csvs": fingerprints(train_csvs),
        "dev_csvs": fingerprints(dev_csvs),
        "alphabet_sha256": sha256_file(alphabet),
        "parameters": {name: params[name] for name in TRAINING_PARAMETERS},
    }
    marker = CompletionMarker(checkpoints, MARKER)
    if marker.is_current(inputs):
        LOG.info("training already done with these inputs (%s): nothing to do", marker.path)
        return dict(marker.outputs(), skipped=True)

    current_step = ckpt.global_step(checkpoints)
    progress = CompletionMarker(checkpoints, PROGRESS)
    recorded = progress.read()
    if recorded is not None and recorded.get("inputs") == _jsonable(inputs):
        start_step = int(recorded["result"]["start_step"])
    else:
        if current_step and marker.read() is not None:
            LOG.warning("inputs changed since the last training: continuing from the checkpoint at step %d for "
                        "%d epochs", current_step, params["epochs"])
        start_step = current_step
        progress.write(inputs, [], {"start_step": start_step})

    clips = check_clips_exist(train_csvs)
    check_clips_exist(dev_csvs)
    steps_per_epoch = max(1, math.ceil(clips / params["batch_size"]))
    epochs_done = max(0, (current_step - start_step) // steps_per_epoch)
    remaining = params["epochs"] - epochs_done
    history_path = checkpoints / HISTORY
    history = LossHistory(history_path)
    LOG.info("%d training clips in %d CSVs, %d steps per epoch; %d of %d epochs done, %d to run",
             clips, len(train_csvs), steps_per_epoch, epochs_done, params["epochs"], max(remaining, 0))

    if remaining > 0:
        flags: Dict[str, Any] = parameter_flags({k: params[k] for k in ("batch_size", "learning_rate", "dropout",
                                                                        "n_hidden", "early_stop")})
        flags.update(switches)
        flags.update({
            "epochs": remaining,
            "train_files": [str(p) for p in train_csvs],
            "dev_files": [str(p) for p in dev_csvs],
            "alphabet_config_path": str(alphabet),
            "show_progressbar": False,
            "skip_batch_test": True,
            "summary_dir": str(root.tmp / "summaries"),
        })
        if transfer is not None:
            source = ckpt.portable_view(transfer_dir, root.tmp / "transfer-checkpoint")
            if source != transfer_dir:
                LOG.info("%s names its files by absolute paths: reading it through %s", transfer_dir, source)
            LOG.info("transfer learning from %s (alphabet %s: drop_source_layers %d)", transfer_dir,
                     "differs" if transfer["alphabet_differs"] else "same", transfer["drop_source_layers"])
            flags.update({"load_checkpoint_dir": str(source), "save_checkpoint_dir": str(checkpoints),
                          "drop_source_layers": transfer["drop_source_layers"]})
        else:
            flags["checkpoint_dir"] = str(checkpoints)
            # coqui's "auto" loads the best dev checkpoint first: resuming must continue from the last one.
            flags["load_train"] = "last" if current_step else "init"
        run_coqui("coqui_stt_training.train", flags, on_line=history.feed)

    best = checkpoints / "best_dev_checkpoint"
    if not best.is_file():
        raise BadInputError("training ended without {}: no dev set was evaluated. Check the *dev.csv files ({})."
                            .format(best, ", ".join(str(p) for p in dev_csvs)))
    history.save()
    result = {
        "checkpoint_dir": str(checkpoints),
        "best_dev_checkpoint": ckpt.checkpoint_prefixes(checkpoints, "best_dev_checkpoint")[0],
        "global_step": ckpt.global_step(checkpoints),
        "epochs": len(history.epochs),
        "n_hidden": ckpt.checkpoint_n_hidden(checkpoints) or params["n_hidden"],
        "history": str(history_path),
        "last_epoch": history.epochs[-1] if history.epochs else None,
        "train_csvs": [str(p) for p in train_csvs],
        "dev_csvs": [str(p) for p in dev_csvs],
        "transfer": transfer,
        "train_cudnn": switches["train_cudnn"],
    }
    marker.write(inputs, [best, history_path], result)
    progress.clear()
    return dict(result, skipped=False)


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))
