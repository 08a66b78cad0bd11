"""The train step: coqui-stt-training on every imported corpus, resumable, with transfer learning.

- Data: every ``*train.csv`` and ``*dev.csv`` under ``extracted/data``; alphabet ``models/alphabet.txt`` (or given).
- Resume (``resume``): checkpoints live in ``checkpoints/``; a killed run restarts from the last checkpoint and
  runs only the epochs it had not finished (counted from the global step in coqui's checkpoint names).
- Transfer learning: with a checkpoint mounted at ``/transfer-checkpoint`` (read-only) and none of our
  own yet, training starts from it; when its alphabet differs from ours the output layer is
  re-initialised (``drop_source_layers 1``), as coqui requires.
- Warm start (``warm_start=previous``): new inputs fine-tune from the best checkpoint of the last
  successful run (``models/previous/``), with ``warm_start_epochs`` and ``warm_start_learning_rate``; the
  result records the lineage, and ``train_set.tsv`` what this model trained on (for the leakage guard).
- Flags (``train_command``): every given parameter with coqui flags one to one, plus those the step derives.
- Done is done: a completion marker records the CSVs, alphabet and every given parameter that changes the
  model (``Parameter.changes_output``); the same inputs again do nothing, changed inputs continue training from
  the checkpoint. The feature cache, the memory test and the log level change no weight: not in the marker.
- The result is an artifact, ``checkpoints/training.json`` (``DataRoot.training``): the best checkpoint, the
  epochs and losses, the parameters the model was trained with. The package step reads it.
- Feature cache (``FEATURE_CACHE``, on by default, as the original's ``--feature_cache``): under
  ``tmp/feature_cache/``, named by the train CSVs, alphabet and augmentation (see ``feature_cache``).
- Augmentation (``ENABLE_AUGMENTS``, ``AUGMENTATION_ARGUMENTS``, ``CACHE_FOR_EPOCHS``): coqui's
  ``--augment`` specs, checked before anything starts.
- Memory test (``SKIP_BATCH_TEST=0``, ``memory_test``): a separate one-epoch training on the longest clips.
- GPUs (``gpus``): coqui trains one tower per visible GPU, each on its own batch, so a step takes
  ``batch_size`` x GPUs clips (``effective_batch_size`` in ``training.json``; steps per epoch count with it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, sha256_file, write_json_atomic
from stt_tasks.gpus import ALL as ALL_GPUS, check_visible, effective_batch
from stt_tasks.layout import DataRoot
from stt_tasks.parameters import PARAMETERS
from stt_tasks.preflight import visible_gpus
from stt_tasks.progress import LOG
from stt_tasks.training import checkpoints as ckpt
from stt_tasks.training.capabilities import image_identity, resolve_training_switches
from stt_tasks.training.coqui import run_coqui
from stt_tasks.training.datasets import TrainingData, alignable_data, fingerprints, training_data
from stt_tasks.training.feature_cache import feature_cache_prefix
from stt_tasks.training.flags import TRAIN_MAX_COQUI_LOG_LEVEL, FlagValue, augmentation_specs
from stt_tasks.training.memory_test import memory_test
from stt_tasks.training.resume import (HISTORY, PROGRESS, LossHistory, ResumePoint, forget_progress, resume_point,
                                       steps_per_epoch)
from stt_tasks.training.train_command import checkpoint_flags, coqui_train_flags, log_environment
from stt_tasks.training import warm_start as warm

DEFAULT_TRANSFER_DIR = Path("/transfer-checkpoint")
MARKER = ".train.completed.json"


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


def _augmenting(params: Mapping[str, Any]) -> bool:
    return bool(augmentation_specs(params))


#: Parameters that decide the model only under a condition (the other ``changes_output`` ones always do): the
#: specs of a disabled augmentation change nothing, and cache_for_epochs is how often *cached* augmented features
#: are re-drawn. Left out otherwise, so that markers written before augmentation existed stay current.
_DECIDES_ONLY_WHEN: Dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "enable_augments": _augmenting,
    "augmentation_arguments": _augmenting,
    "cache_for_epochs": lambda params: _augmenting(params) and bool(params["feature_cache"]),
}


def marker_parameters(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The given parameters the trained model depends on: the train marker's (a change continues training)."""
    return {name: value for name, value in params.items()
            if PARAMETERS[name].changes_output and _DECIDES_ONLY_WHEN.get(name, lambda _: True)(params)}


def marker_inputs(data: TrainingData, params: Mapping[str, Any]) -> Dict[str, Any]:
    """What the train marker records: a model is done when these are unchanged."""
    return {
        "train_csvs": fingerprints(data.train_csvs),
        "dev_csvs": fingerprints(data.dev_csvs),
        "alphabet_sha256": sha256_file(data.alphabet),
        "parameters": marker_parameters(params),
    }


def train(root: DataRoot, params: Mapping[str, Any], transfer_dir: Optional[Path] = None,
          alphabet: Optional[Path] = None) -> Dict[str, Any]:
    """Train (or resume, or do nothing if done); return the step's JSON result, also ``root.training``.

    ``params`` are the train step's run parameters; ``alphabet`` defaults to the alphabet step's output.
    """
    transfer_dir = transfer_dir or Path(os.environ.get("STT_TRANSFER_CHECKPOINT", str(DEFAULT_TRANSFER_DIR)))
    gpus = visible_gpus()
    check_visible(params.get("gpus", ALL_GPUS), gpus)
    data = training_data(root, alphabet)
    switches = resolve_training_switches(params)
    checkpoints = root.checkpoints
    checkpoints.mkdir(parents=True, exist_ok=True)
    transfer = transfer_source(transfer_dir, checkpoints, data.alphabet)

    inputs = marker_inputs(data, params)
    previous = _previous_model(root, params, transfer)
    if previous is not None:
        inputs["warm_start_from"] = previous.lineage[-1:] or str(previous.folder)
    marker = CompletionMarker(checkpoints, MARKER)
    if marker.is_current(inputs):
        LOG.info("training already done with these inputs (%s): nothing to do", marker.path)
        return _already_trained(root, marker, params)

    # coqui reads copies under tmp/ without the clips CTC cannot align (one would stop every try).
    alignable = alignable_data(data, root.tmp / "alignable-csvs")
    clips = alignable.train.clips
    if previous is not None:
        transfer = _warm_transfer(previous, checkpoints, data.alphabet, inputs)
        params = warm.warm_parameters(params)
    batch = effective_batch(params["batch_size"], gpus)
    LOG.info("effective batch: %d clips per step (batch_size %d x %d %s)", batch, params["batch_size"],
             max(1, len(gpus)), "GPUs" if gpus else "CPU tower")
    resume = resume_point(checkpoints, inputs, params["epochs"], steps_per_epoch(clips, batch),
                          finished_before=marker.read() is not None)
    history = LossHistory(checkpoints / HISTORY, planned_epochs=resume.remaining)  # its epoch lines give an ETA
    LOG.info("%d training clips in %d CSVs, %d steps per epoch; %d of %d epochs done, %d to run",
             clips, len(data.train_csvs), resume.steps_per_epoch, resume.epochs_done, resume.epochs, resume.remaining)
    if resume.remaining:
        feature_cache = _feature_cache(root, params, inputs)
        flags = coqui_train_flags(params, switches, resume.remaining, alignable.data, feature_cache,
                                  root.tmp / "summaries")
        _run_training(root, params, alignable.data, flags, _load_flags(root, transfer, resume), history)

    history.save()
    artifact = training_artifact(root, params, data, switches, transfer, history, gpus)
    train_set = warm.write_train_set(checkpoints / warm.TRAIN_SET, data.train_csvs)
    artifact.update(train_set=str(train_set), warm_start=_lineage(previous))
    artifact["skipped_clips"] = alignable.skipped_clips  # per split: clips CTC could not align, left out
    write_json_atomic(root.training, artifact)
    marker.write(inputs, [checkpoints / "best_dev_checkpoint", history.path, train_set], artifact)
    forget_progress(checkpoints)
    return dict(artifact, training=str(root.training), skipped=False)


def _previous_model(root: DataRoot, params: Mapping[str, Any],
                    transfer: Optional[Mapping[str, Any]]) -> Optional[warm.PreviousModel]:
    """The last successful run's model when ``warm_start`` asks for it (None: none recorded yet, or not asked)."""
    if params.get("warm_start", warm.NONE) != warm.FROM_PREVIOUS:
        return None
    if transfer is not None:
        raise BadInputError("warm_start=previous and a transfer checkpoint ({}) are both given: choose one (empty "
                            "transfer_checkpoint, or warm_start=none).".format(transfer["checkpoint_dir"]))
    previous = warm.previous_model(root.models, root.tmp)
    if previous is None:
        LOG.warning("warm_start=previous, but no successful run is recorded in %s yet: training from scratch",
                    warm.previous_dir(root.models))
    return previous


def _warm_transfer(previous: warm.PreviousModel, checkpoints: Path, alphabet: Path,
                   inputs: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """Start these inputs from the previous model's best checkpoint, unless their training already started here."""
    progress = CompletionMarker(checkpoints, PROGRESS).read()
    if progress is not None and progress.get("inputs") == json.loads(json.dumps(inputs)):
        return None  # a killed warm-started training: it resumes from its own last checkpoint
    warm.forget_own_checkpoints(checkpoints)
    if (checkpoints / HISTORY).is_file():
        (checkpoints / HISTORY).unlink()  # a new model: the losses recorded are its own
    transfer = transfer_source(previous.checkpoint_dir, checkpoints, alphabet)
    if transfer is None:
        raise BadInputError("{}: no checkpoint in the last successful run's archive; set warm_start to none."
                            .format(previous.folder))
    # coqui carries the loaded global step on: count this training's epochs from it
    CompletionMarker(checkpoints, PROGRESS).write(inputs, [], {"start_step": transfer["global_step"]})
    return transfer


def _lineage(previous: Optional[warm.PreviousModel]) -> Optional[Dict[str, Any]]:
    """What a warm-started model descends from (the runs and releases before it), for training.json."""
    if previous is None:
        return None
    return {"from": str(previous.folder), "lineage": previous.lineage}


def _feature_cache(root: DataRoot, params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Optional[Path]:
    """The cache path for these inputs (FEATURE_CACHE on), named by what the cached features depend on."""
    if not params["feature_cache"]:
        return None
    augmentation = {k: v for k, v in inputs["parameters"].items() if k in ("augmentation_arguments",
                                                                          "cache_for_epochs")}
    return feature_cache_prefix(root, {"train_csvs": inputs["train_csvs"],
                                       "alphabet_sha256": inputs["alphabet_sha256"], "augmentation": augmentation})


def _load_flags(root: DataRoot, transfer: Optional[Mapping[str, Any]], resume: ResumePoint) -> Dict[str, FlagValue]:
    """Continue from our last checkpoint, or start from the transfer checkpoint (read through a portable view)."""
    if transfer is None:
        return checkpoint_flags(root.checkpoints, resume.current_step)
    transfer_dir = Path(transfer["checkpoint_dir"])
    source = ckpt.portable_view(transfer_dir, root.tmp / "transfer-checkpoint")
    if source != transfer_dir:
        LOG.info("%s names its files by absolute paths: reading it through %s", transfer_dir, source)
    LOG.info("transfer learning from %s (alphabet %s: drop_source_layers %d)", transfer_dir,
             "differs" if transfer["alphabet_differs"] else "same", transfer["drop_source_layers"])
    return checkpoint_flags(root.checkpoints, resume.current_step, source, transfer["drop_source_layers"])


def _run_training(root: DataRoot, params: Mapping[str, Any], data: TrainingData, flags: Mapping[str, FlagValue],
                  load_flags: Mapping[str, FlagValue], history: LossHistory) -> None:
    """The memory test if asked for, then coqui's training, its losses recorded as they come."""
    if params["log_level"] > TRAIN_MAX_COQUI_LOG_LEVEL:
        LOG.info("LOG_LEVEL %d: TensorFlow logs at that level; coqui keeps INFO, whose lines carry the losses "
                 "this step records", params["log_level"])
    env = log_environment(params)
    if not params["skip_batch_test"]:
        memory_test(root, data.train_csvs, flags, params["batch_size"], env)
    run_coqui("coqui_stt_training.train", dict(flags, **load_flags), extra_env=env, on_line=history.feed)


def training_artifact(root: DataRoot, params: Mapping[str, Any], data: TrainingData, switches: Mapping[str, bool],
                      transfer: Optional[Mapping[str, Any]], history: LossHistory,
                      gpus: Sequence[str] = ()) -> Dict[str, Any]:
    """What ``training.json`` holds: the trained model (best checkpoint, epochs, losses) and how it was trained.

    ``gpus`` are the GPUs the training saw (``nvidia-smi -L`` lines; none: one CPU tower).
    """
    checkpoints = root.checkpoints
    best = checkpoints / "best_dev_checkpoint"
    if not best.is_file():
        raise BadInputError("training ended without {}: no dev set was evaluated. Check the *dev.csv files ({})."
                            .format(best, ", ".join(str(p) for p in data.dev_csvs)))
    return {
        "checkpoint_dir": str(checkpoints),
        "best_dev_checkpoint": ckpt.checkpoint_prefixes(checkpoints, "best_dev_checkpoint")[0],
        "global_step": ckpt.global_step(checkpoints),
        "epochs": len(history.epochs),
        "n_hidden": ckpt.checkpoint_n_hidden(checkpoints) or params["n_hidden"],
        "history": str(history.path),
        "last_epoch": history.epochs[-1] if history.epochs else None,
        "train_csvs": [str(p) for p in data.train_csvs],
        "dev_csvs": [str(p) for p in data.dev_csvs],
        "transfer": dict(transfer) if transfer else None,
        "train_cudnn": switches["train_cudnn"],
        "gpus": list(gpus),
        "effective_batch_size": effective_batch(params["batch_size"], gpus),
        "augmentation": augmentation_specs(params) or None,
        "trained_in": image_identity(),
        "parameters": {name: params[name] for name in sorted(params)},
    }


def _already_trained(root: DataRoot, marker: CompletionMarker, params: Mapping[str, Any]) -> Dict[str, Any]:
    """The recorded result; ``training.json`` is left as it is, or restored from the marker when absent."""
    artifact = marker.outputs()
    if not root.training.is_file():
        # Trained before the step wrote its artifact (the marker has no parameters then), or the file was deleted.
        artifact.setdefault("parameters", {name: params[name] for name in sorted(params)})
        write_json_atomic(root.training, artifact)
    else:
        artifact = json.loads(root.training.read_text(encoding="utf-8"))
    return dict(artifact, training=str(root.training), skipped=True)
