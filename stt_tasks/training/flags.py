"""The one typed table from our run parameters to coqui-stt-training 1.4.0 flags.

Each run parameter (``stt_tasks.parameters.PARAMETERS``) says which coqui flags it sets (``coqui``), or
why it sets none (``note``); :func:`parameter_flags` sets those that map one to one, :func:`train_flags` those
the train step derives (feature cache path, augmentation, memory test, log level). ``COQUI_FLAG_TYPES``
lists every coqui flag any step emits with the type coqui's ``BaseSttConfig`` declares for it;
:func:`render` refuses anything else, and a test in the CPU image checks this table against coqui's own
Config, so a misspelt or mistyped flag fails in CI, not in a week-long training run. Pure Python:
importable without TensorFlow.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Union

from stt_tasks.errors import BadInputError
from stt_tasks.parameters import PARAMETERS

FlagValue = Union[bool, int, float, str, List[str]]

#: Every coqui flag we emit, with the type coqui 1.4.0 declares (``list`` is ``List[str]``).
COQUI_FLAG_TYPES: Dict[str, type] = {
    # data
    "train_files": list,
    "dev_files": list,
    "test_files": list,
    "feature_cache": str,
    "cache_for_epochs": int,
    "augment": list,
    "audio_sample_rate": int,
    # model and optimiser
    "n_hidden": int,
    "epochs": int,
    "learning_rate": float,
    "dropout_rate": float,
    "train_batch_size": int,
    "dev_batch_size": int,
    "test_batch_size": int,
    "layer_norm": bool,
    "random_seed": int,
    "train_cudnn": bool,
    "load_cudnn": bool,
    "automatic_mixed_precision": bool,
    "skip_batch_test": bool,
    "early_stop": bool,
    "es_epochs": int,
    "es_min_delta": float,
    "reduce_lr_on_plateau": bool,
    "force_initialize_learning_rate": bool,
    # checkpoints
    "checkpoint_dir": str,
    "load_checkpoint_dir": str,
    "save_checkpoint_dir": str,
    "load_train": str,
    "load_evaluate": str,
    "drop_source_layers": int,
    "max_to_keep": int,
    "checkpoint_secs": int,
    "summary_dir": str,
    # decoder
    "alphabet_config_path": str,
    "scorer_path": str,
    "beam_width": int,
    "export_beam_width": int,
    "lm_alpha": float,
    "lm_beta": float,
    # evaluation
    "test_output_file": str,
    "report_count": int,
    # export
    "export_dir": str,
    "export_tflite": bool,
    "export_quantize": bool,
    "export_zip": bool,
    "export_file_name": str,
    "export_author_id": str,
    "export_model_name": str,
    "export_model_version": str,
    "export_contact_info": str,
    "export_license": str,
    "export_language": str,
    "export_min_stt_version": str,
    "export_max_stt_version": str,
    "export_description": str,
    # logging
    "log_level": int,
    "show_progressbar": bool,
}


class FlagError(ValueError):
    """A flag coqui 1.4.0 does not have, or a value of the wrong type."""


def parameter_flags(params: Mapping[str, Any]) -> Dict[str, FlagValue]:
    """The coqui flags set one to one by the given run parameters (``Parameter.coqui``)."""
    flags: Dict[str, FlagValue] = {}
    for name, value in params.items():
        if name not in PARAMETERS:
            raise FlagError("run parameter {!r} is not in stt_tasks.parameters.PARAMETERS".format(name))
        if PARAMETERS[name].derived:
            raise FlagError("run parameter {!r} does not map to its flags one to one: use train_flags".format(name))
        for flag in PARAMETERS[name].coqui:
            flags[flag] = value
    return flags


def direct_flags(params: Mapping[str, Any]) -> Dict[str, FlagValue]:
    """The coqui flags of every parameter in ``params`` that sets its flags one to one (a step passes all
    its parameters: one added to the step's table entry with ``coqui`` flags reaches coqui with no other edit)."""
    return parameter_flags({name: value for name, value in params.items()
                            if name in PARAMETERS and PARAMETERS[name].coqui and not PARAMETERS[name].derived})


#: The largest --log_level the train step passes coqui: it records losses from coqui's INFO lines.
TRAIN_MAX_COQUI_LOG_LEVEL = 1


def train_flags(params: Mapping[str, Any], feature_cache: str = "") -> Dict[str, FlagValue]:
    """The flags of the derived parameters, for coqui's train module.

    ``feature_cache`` is the cache path the step chose (used when the ``feature_cache`` parameter is true).
    """
    flags: Dict[str, FlagValue] = {
        "skip_batch_test": True,
        "log_level": min(params["log_level"], TRAIN_MAX_COQUI_LOG_LEVEL),
    }
    caching = bool(params["feature_cache"])
    if caching:
        if not feature_cache:
            raise FlagError("feature_cache is on but no cache path was given")
        flags["feature_cache"] = feature_cache
    specs = augmentation_specs(params)
    if specs:
        flags["augment"] = specs
        if caching:
            flags["cache_for_epochs"] = params["cache_for_epochs"]
    return flags


def augmentation_specs(params: Mapping[str, Any]) -> List[str]:
    """The ``--augment`` specs when ENABLE_AUGMENTS is on (none when off); on without specs is an error."""
    if not params["enable_augments"]:
        return []
    if not params["augmentation_arguments"]:
        raise BadInputError("ENABLE_AUGMENTS=1 (--enable-augments) but AUGMENTATION_ARGUMENTS "
                            "(--augmentation-arguments) is empty: give the specs, or set ENABLE_AUGMENTS=0.")
    return list(params["augmentation_arguments"])


def check_value(flag: str, value: Any) -> FlagValue:
    """``value`` converted to the type coqui declares for ``flag``; a lossy conversion is an error."""
    if flag not in COQUI_FLAG_TYPES:
        raise FlagError("--{} is not a coqui-stt-training 1.4.0 flag we know (COQUI_FLAG_TYPES)".format(flag))
    kind = COQUI_FLAG_TYPES[flag]
    if kind is bool:
        if not isinstance(value, bool):
            raise FlagError("--{} takes true/false, got {!r}".format(flag, value))
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise FlagError("--{} takes an integer, got {!r}".format(flag, value))
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FlagError("--{} takes a number, got {!r}".format(flag, value))
        return float(value)
    if kind is list:
        if isinstance(value, (str, bytes)) or not all(isinstance(item, str) for item in value):
            raise FlagError("--{} takes a list of strings, got {!r}".format(flag, value))
        return [str(item) for item in value]
    if not isinstance(value, str):
        raise FlagError("--{} takes a string, got {!r}".format(flag, value))
    return value


def render(flags: Mapping[str, Any]) -> List[str]:
    """Coqui's command line for ``flags`` (checked; ``None`` values and empty lists are left out)."""
    argv: List[str] = []
    for flag in sorted(flags):
        value = flags[flag]
        if value is None:
            continue
        value = check_value(flag, value)
        if isinstance(value, list):
            if not value:
                continue
            argv += ["--" + flag] + value
        elif isinstance(value, bool):
            argv += ["--" + flag, "true" if value else "false"]
        else:
            argv += ["--" + flag, repr(value) if isinstance(value, float) else str(value)]
    return argv
