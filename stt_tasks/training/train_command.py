"""The coqui command line of the train step: which flags come from where.

- One to one: every given run parameter with ``coqui`` flags (``flags.direct_flags``), so a parameter added
  to the table and to the step's parameters reaches coqui with no edit here.
- Derived: cuDNN and mixed precision as this image allows (``capabilities.resolve_training_switches``), the
  feature cache path, augmentation, coqui's memory test (always skipped) and the log level (``flags.train_flags``).
- The step's own: the epochs still to run, the data, and where checkpoints are read and written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from stt_tasks.training.datasets import TrainingData
from stt_tasks.training.flags import FlagValue, direct_flags, train_flags


def coqui_train_flags(params: Mapping[str, Any], switches: Mapping[str, bool], epochs: int, data: TrainingData,
                      feature_cache: Optional[Path], summary_dir: Path) -> Dict[str, FlagValue]:
    """coqui's train flags for these parameters, except the checkpoint ones (the memory test runs with these).

    ``epochs`` replaces the parameter: a resumed training runs only the epochs it still owes.
    """
    flags: Dict[str, FlagValue] = direct_flags(params)
    flags.update(switches)
    flags.update(train_flags(params, str(feature_cache) if feature_cache else ""))
    flags.update({
        "epochs": epochs,
        "train_files": [str(p) for p in data.train_csvs],
        "dev_files": [str(p) for p in data.dev_csvs],
        "alphabet_config_path": str(data.alphabet),
        "show_progressbar": False,
        "summary_dir": str(summary_dir),
    })
    return flags


def checkpoint_flags(checkpoints: Path, current_step: int, transfer_from: Optional[Path] = None,
                     drop_source_layers: int = 0) -> Dict[str, FlagValue]:
    """Where coqui loads and saves: our checkpoints, or (``transfer_from``) another model's, saving to ours."""
    if transfer_from is not None:
        return {"load_checkpoint_dir": str(transfer_from), "save_checkpoint_dir": str(checkpoints),
                "drop_source_layers": drop_source_layers}
    # coqui's "auto" loads the best dev checkpoint first: resuming must continue from the last one.
    return {"checkpoint_dir": str(checkpoints), "load_train": "last" if current_step else "init"}


def log_environment(params: Mapping[str, Any]) -> Dict[str, str]:
    """TensorFlow's log level for coqui's process.

    coqui sets TF_CPP_MIN_LOG_LEVEL from --log_level only if TensorFlow is not imported yet; we import it first.
    """
    return {"TF_CPP_MIN_LOG_LEVEL": str(params["log_level"])}
