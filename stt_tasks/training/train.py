"""The train step: coqui-stt-training on every imported corpus, resumable, with transfer learning.

- Data: every ``*train.csv`` and ``*dev.csv`` under ``extracted/data``; alphabet ``models/alphabet.txt`` (or given).
- Resume: checkpoints live in ``checkpoints/``; a killed run restarts from the last checkpoint and runs
  only the epochs it had not finished (counted from the global step in coqui's checkpoint names).
- Transfer learning: with a checkpoint mounted at ``/transfer-checkpoint`` (read-only) and none of our
  own yet, training starts from it; when its alphabet differs from ours the output layer is
  re-initialised (``drop_source_layers 1``), as coqui requires.
- Done is done: a completion marker records the CSVs, alphabet and the parameters the model depends on;
  the same inputs again do nothing, changed inputs continue training from the checkpoint. The feature
  cache, the memory test and the log level change no weight, so they are not in the marker.
- Feature cache (``FEATURE_CACHE``, on by default, as the original's ``--feature_cache``): under
  ``tmp/feature_cache/``, named by the train CSVs, alphabet and augmentation (see ``feature_cache``).
- Augmentation (``ENABLE_AUGMENTS``, ``AUGMENTATION_ARGUMENTS``, ``CACHE_FOR_EPOCHS``): coqui's
  ``--augment`` specs, checked before anything starts.
- Memory test (``SKIP_BATCH_TEST=0``): coqui's own never lets the process exit (STT#2195) and would
  fill the feature cache from its three batches only, so it runs as a separate one-epoch training on the
  three batches of the longest clips, in a scratch folder.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, sha256_file, write_json_atomic
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.training import checkpoints as ckpt
from stt_tasks.training.capabilities import image_identity, resolve_training_switches
from stt_tasks.training.coqui import CoquiError, run_coqui
from stt_tasks.training.datasets import check_clips_exist, fingerprints, read_rows, require_csvs, wav_path
from stt_tasks.training.feature_cache import feature_cache_prefix
from stt_tasks.training.flags import TRAIN_MAX_COQUI_LOG_LEVEL, augmentation_specs, parameter_flags, train_flags

DEFAULT_TRANSFER_DIR = Path("/transfer-checkpoint")
TRAINING_PARAMETERS = ("batch_size", "epochs", "learning_rate", "dropout", "n_hidden", "early_stop", "amp",
                       "train_cudnn")
#: Every run parameter the train step takes: the above, augmentation, and those that change no weight.
STEP_PARAMETERS = TRAINING_PARAMETERS + ("enable_augments", "augmentation_arguments", "cache_for_epochs",
                                         "feature_cache", "skip_batch_test", "log_level")
#: coqui's memory test trains on this many batches of the longest clips.
BATCH_TEST_BATCHES = 3
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


def marker_parameters(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The run parameters the trained model depends on: the train marker's (a change continues training).

    Augmentation counts only when on (the specs of a disabled augmentation change nothing), and
    cache_for_epochs only with the feature cache (it is how often the cached augmentations are re-drawn).
    Absent when off, so that markers written before augmentation existed stay current.
    """
    recorded = {name: params[name] for name in TRAINING_PARAMETERS}
    specs = augmentation_specs(params)
    if specs:
        recorded["enable_augments"] = True
        recorded["augmentation_arguments"] = specs
        if params["feature_cache"]:
            recorded["cache_for_epochs"] = params["cache_for_epochs"]
    return recorded


def longest_clips_csv(train_csvs: List[Path], count: int, target: Path) -> Path:
    """A CSV of the ``count`` largest training clips (absolute paths), as coqui's memory test picks them."""
    rows = [(int(row.get("wav_filesize") or 0), wav_path(path, row["wav_filename"]), row["transcript"])
            for path in train_csvs for row in read_rows(path)]
    rows.sort(key=lambda row: row[0], reverse=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["wav_filename", "wav_filesize", "transcript"])
        for size, wav, transcript in rows[:count]:
            writer.writerow([wav, size, transcript])
    return target


def memory_test(root: DataRoot, train_csvs: List[Path], flags: Mapping[str, Any], batch_size: int,
                extra_env: Mapping[str, str]) -> None:
    """One epoch on the longest clips with the training's flags, in a scratch folder (``SKIP_BATCH_TEST=0``)."""
    work = root.tmp / "batch-test"
    if work.exists():
        shutil.rmtree(str(work))
    clips = longest_clips_csv(train_csvs, BATCH_TEST_BATCHES * batch_size, work / "longest_train.csv")
    test_flags = {k: v for k, v in flags.items() if k not in (
        "feature_cache", "cache_for_epochs", "load_checkpoint_dir", "save_checkpoint_dir", "drop_source_layers")}
    test_flags.update({"train_files": [str(clips)], "dev_files": [str(clips)], "epochs": 1,
                       "checkpoint_dir": str(work / "checkpoints"), "load_train": "init",
                       "summary_dir": str(work / "summaries")})
    LOG.info("memory test (SKIP_BATCH_TEST=0): one epoch on the %d longest training clips",
             BATCH_TEST_BATCHES * batch_size)
    try:
        run_coqui("coqui_stt_training.train", test_flags, extra_env=extra_env)
    except CoquiError as error:
        raise BadInputError("the memory test failed: with batch size {} the longest clips may not fit in memory "
                            "(lower BATCH_SIZE), or see the cause below. Set SKIP_BATCH_TEST=1 to skip the test.\n{}"
                            .format(batch_size, error)) from None
    shutil.rmtree(str(work))
    LOG.info("memory test passed")


def train(root: DataRoot, params: Mapping[str, Any], transfer_dir: Optional[Path] = None,
          alphabet: Optional[Path] = None) -> Dict[str, Any]:
    """Train (or resume, or do nothing if done); return the step's JSON result.

    ``alphabet`` defaults to the alphabet step's output.
    """
    transfer_dir = transfer_dir or Path(os.environ.get("STT_TRANSFER_CHECKPOINT", str(DEFAULT_TRANSFER_DIR)))
    train_csvs = require_csvs(root, "train")
    dev_csvs = require_csvs(root, "dev")
    alphabet = alphabet or root.alphabet
    if not alphabet.is_file():
        raise BadInputError("{} is missing: run the alphabet step first.".format(alphabet))
    switches = resolve_training_switches(params)
    augmentation = augmentation_specs(params)
    checkpoints = root.checkpoints
    checkpoints.mkdir(parents=True, exist_ok=True)
    transfer = transfer_source(transfer_dir, checkpoints, alphabet)

    inputs = {
        "train_csvs": fingerprints(train_csvs),
        "dev_csvs": fingerprints(dev_csvs),
        "alphabet_sha256": sha256_file(alphabet),
        "parameters": marker_parameters(params),
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

    feature_cache: Optional[Path] = None
    if remaining > 0:
        if params["feature_cache"]:
            feature_cache = feature_cache_prefix(root, {
                "train_csvs": inputs["train_csvs"], "alphabet_sha256": inputs["alphabet_sha256"],
                "augmentation": {k: v for k, v in inputs["parameters"].items() if k in (
                    "augmentation_arguments", "cache_for_epochs")}})
        flags: Dict[str, Any] = parameter_flags({k: params[k] for k in ("batch_size", "learning_rate", "dropout",
                                                                        "n_hidden", "early_stop")})
        flags.update(switches)
        flags.update(train_flags(params, str(feature_cache) if feature_cache else ""))
        flags.update({
            "epochs": remaining,
            "train_files": [str(p) for p in train_csvs],
            "dev_files": [str(p) for p in dev_csvs],
            "alphabet_config_path": str(alphabet),
            "show_progressbar": False,
            "summary_dir": str(root.tmp / "summaries"),
        })
        if params["log_level"] > TRAIN_MAX_COQUI_LOG_LEVEL:
            LOG.info("LOG_LEVEL %d: TensorFlow logs at that level; coqui keeps INFO, whose lines carry the losses "
                     "this step records", params["log_level"])
        # coqui sets TF_CPP_MIN_LOG_LEVEL from --log_level only if TensorFlow is not imported yet; we import it first.
        log_env = {"TF_CPP_MIN_LOG_LEVEL": str(params["log_level"])}
        if not params["skip_batch_test"]:
            memory_test(root, train_csvs, flags, params["batch_size"], log_env)
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
        run_coqui("coqui_stt_training.train", flags, extra_env=log_env, on_line=history.feed)

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
        "augmentation": augmentation or None,
        "trained_in": image_identity(),
    }
    marker.write(inputs, [best, history_path], result)
    progress.clear()
    return dict(result, skipped=False)


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))
