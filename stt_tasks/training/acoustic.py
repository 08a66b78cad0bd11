"""One acoustic pass per (checkpoint, CSV): every clip's softmax outputs computed once, decoded many times.

Decoding is a small part of an evaluation: most of it is building the graph, loading the checkpoint and
running the acoustic model over the clips. The decoder tuning decodes the same dev clips hundreds of
times with other alpha/beta, and the test step decodes them once more, so both steps ask this module for
the stored outputs of their CSVs (:func:`acoustic_outputs`) and decode those.

The stored outputs are a **cache**, not an artifact: ``tmp/acoustic/<checkpoint>/<csv>-<key>.npz``, one
compressed file per CSV (probabilities, lengths, losses, WAV names, coqui's ground truths), named by what
it depends on: the checkpoint's files, the CSV's bytes, the alphabet, the checkpoint's ``flags.txt`` and
the batch size (coqui's batches decide the floating point of the outputs, so the same batches are what
makes the stored path give coqui's own transcripts). No step reads another's file by name: each computes
the key of its own inputs, and a missing or stale entry is computed again; deleting the folder only costs
time. Entries of a checkpoint that is no longer the best are removed by the next step that asks.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping

from stt_tasks.fsio import file_fingerprint, json_digest, remove_stale_siblings
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.training.coqui import run_coqui
from stt_tasks.training.flags import parameter_flags

#: Bumped when what a pass stores changes (older entries are then never found again, and removed).
WRITER = "acoustic/1"
CACHE_FOLDER = "acoustic"
#: The module that runs inside coqui's process.
PASS_MODULE = "stt_tasks.training.acoustic_pass"


@dataclass(frozen=True)
class AcousticOutputs:
    """Where the stored outputs of one CSV are, and whether this call had to compute them."""

    csv: Path
    path: Path
    computed: bool


def cache_root(root: DataRoot) -> Path:
    """``tmp/acoustic``: every checkpoint's stored outputs, one folder each."""
    return root.tmp / CACHE_FOLDER


def model_key(root: DataRoot, alphabet: Path, batch_size: int) -> Dict[str, Any]:
    """What the outputs depend on besides the CSV: the best checkpoint's files, its flags, alphabet, batches."""
    from stt_tasks.training.evaluate import checkpoint_fingerprint

    flags = root.checkpoints / "flags.txt"  # coqui takes n_hidden from it
    return {
        "checkpoint": checkpoint_fingerprint(root),
        "checkpoint_flags": file_fingerprint(flags) if flags.is_file() else None,
        "alphabet": file_fingerprint(alphabet),
        "batch_size": batch_size,
        "writer": WRITER,
    }


def checkpoint_folder(root: DataRoot, model: Mapping[str, Any]) -> Path:
    """The folder of one checkpoint's outputs, named by its files' hashes (not by its step)."""
    return cache_root(root) / "ckpt-{}".format(json_digest(model["checkpoint"])[:16])


def output_path(root: DataRoot, model: Mapping[str, Any], csv_path: Path) -> Path:
    """The stored outputs of ``csv_path`` under this model: named by everything they depend on."""
    key = json_digest({"model": dict(model), "csv": file_fingerprint(csv_path)})[:16]
    return checkpoint_folder(root, model) / "{}-{}.npz".format(csv_path.stem, key)


def remove_outdated(root: DataRoot, keep: Path) -> List[Path]:
    """Remove the stored outputs of every checkpoint but ``keep``'s (no longer the best: never read again)."""
    removed: List[Path] = []
    folder = cache_root(root)
    if not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        if entry != keep:
            LOG.info("removing %s: stored acoustic outputs of a checkpoint that is no longer the best", entry)
            shutil.rmtree(str(entry)) if entry.is_dir() else entry.unlink()
            removed.append(entry)
    return removed


def pass_flags(root: DataRoot, alphabet: Path, batch_size: int, csvs: List[Path]) -> Dict[str, Any]:
    """Coqui's flags for the pass: exactly the test step's evaluation flags that shape the acoustic model."""
    flags: Dict[str, Any] = parameter_flags({"batch_size": batch_size})
    flags.update({
        "test_files": [str(p) for p in csvs],
        "checkpoint_dir": str(root.checkpoints),
        "load_evaluate": "best",
        "alphabet_config_path": str(alphabet),
        "train_cudnn": False,
        "show_progressbar": False,
    })
    return flags


def acoustic_outputs(root: DataRoot, csvs: List[Path], alphabet: Path, batch_size: int) -> List[AcousticOutputs]:
    """The stored outputs of every CSV (in their order) under the best checkpoint; one coqui pass computes
    the missing ones (one graph, one checkpoint load for all of them)."""
    model = model_key(root, alphabet, batch_size)
    folder = checkpoint_folder(root, model)
    remove_outdated(root, keep=folder)
    stored = [(csv_path, output_path(root, model, csv_path)) for csv_path in csvs]
    missing = [(csv_path, path) for csv_path, path in stored if not path.is_file()]
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        for _csv, path in missing:
            remove_stale_siblings(path)
        settings = {"outputs": [{"csv": str(c), "path": str(p)} for c, p in missing]}
        LOG.info("acoustic pass over %d CSV(s) (%d stored already) into %s", len(missing), len(stored) - len(missing),
                 folder)
        run_coqui(PASS_MODULE, pass_flags(root, alphabet, batch_size, [c for c, _ in missing]),
                  extra_env={"STT_ACOUSTIC_PASS": json.dumps(settings)})
    else:
        LOG.info("acoustic outputs of %d CSV(s) already stored in %s", len(stored), folder)
    computed = {path for _csv, path in missing}
    return [AcousticOutputs(csv_path, path, path in computed) for csv_path, path in stored]


def pass_summary(outputs: List[AcousticOutputs]) -> Dict[str, int]:
    """How many CSVs this call ran the acoustic model over, and how many it found stored."""
    computed = sum(1 for o in outputs if o.computed)
    return {"computed": computed, "reused": len(outputs) - computed}
