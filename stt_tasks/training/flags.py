"""The one typed table from our run parameters to coqui-stt-training 1.4.0 flags.

``PARAMETER_FLAGS`` says, for every run parameter (``stt_tasks.parameters``), which coqui flags it sets,
or why it sets none; :func:`parameter_flags` sets those that map one to one, :func:`train_flags` those the
train step derives (feature cache path, augmentation, memory test, log level). ``COQUI_FLAG_TYPES``
lists every coqui flag any step emits with the type coqui's ``BaseSttConfig`` declares for it;
:func:`render` refuses anything else, and a test in the CPU image checks this table against coqui's own
Config, so a misspelt or mistyped flag fails in CI, not in a week-long training run. Pure Python:
importable without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Tuple, Union

from stt_tasks.errors import BadInputError

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


@dataclass(frozen=True)
class ParameterFlags:
    """Which coqui flags a run parameter sets (none: ``note`` says where it is used instead)."""

    parameter: str
    flags: Tuple[str, ...]
    note: str = ""
    #: the flags are not the value itself: the train step derives them (:func:`train_flags`)
    derived: bool = False


#: Every run parameter, exactly once. A test checks this covers ``stt_tasks.parameters.PARAMETERS``.
PARAMETER_FLAGS: Dict[str, ParameterFlags] = {
    p.parameter: p
    for p in [
        ParameterFlags("batch_size", ("train_batch_size", "dev_batch_size", "test_batch_size")),
        ParameterFlags("epochs", ("epochs",), "the train step passes the epochs still to run when resuming"),
        ParameterFlags("learning_rate", ("learning_rate",)),
        ParameterFlags("dropout", ("dropout_rate",), "coqui's dropout_rate2/3/6 default to it"),
        ParameterFlags("n_hidden", ("n_hidden",)),
        # coqui's evaluate decodes with export_beam_width, and export embeds it: set both.
        ParameterFlags("beam_width", ("beam_width", "export_beam_width")),
        ParameterFlags("lm_alpha", ("lm_alpha",)),
        ParameterFlags("lm_beta", ("lm_beta",)),
        ParameterFlags("amp", ("automatic_mixed_precision",), "refused on TensorFlow 2 images"),
        ParameterFlags("train_cudnn", ("train_cudnn",), "refused on TensorFlow 2 images"),
        ParameterFlags("early_stop", ("early_stop",)),
        ParameterFlags("feature_cache", ("feature_cache",), "true: a cache path under tmp/feature_cache/ named by "
                       "the train CSVs, alphabet and augmentation (the train step's)", derived=True),
        ParameterFlags("enable_augments", ("augment", "cache_for_epochs"), "switches the two below on", derived=True),
        ParameterFlags("augmentation_arguments", ("augment",), "one argument per spec, with enable_augments",
                       derived=True),
        ParameterFlags("cache_for_epochs", ("cache_for_epochs",), "with enable_augments and feature_cache",
                       derived=True),
        # coqui's own test hangs at exit (STT#2195) and writes the feature cache from its 3 batches only.
        ParameterFlags("skip_batch_test", ("skip_batch_test",), "always true for coqui: when false, the train "
                       "step runs the same memory test as a separate short training", derived=True),
        ParameterFlags("log_level", ("log_level",), "also TF_CPP_MIN_LOG_LEVEL; the train step passes coqui at "
                       "most 1: its INFO lines carry the per-epoch losses", derived=True),
        ParameterFlags("lm_top_k", (), "LM step: vocabulary size of the scorer"),
        ParameterFlags("lm_add_excluded_max_sec", (), "LM step: the importers' too-long transcripts join the LM text"),
        ParameterFlags("english_compatible", (), "importers and alphabet step"),
        ParameterFlags("duplicate_sentence_count", (), "Common Voice importer"),
        ParameterFlags(
            "lm_evaluate_range", (), "optimize-lm step: our own Optuna search (float ranges, SQLite study)"
        ),
    ]
}


class FlagError(ValueError):
    """A flag coqui 1.4.0 does not have, or a value of the wrong type."""


def parameter_flags(params: Mapping[str, Any]) -> Dict[str, FlagValue]:
    """The coqui flags set by the given run parameters (those absent from ``params`` are skipped)."""
    flags: Dict[str, FlagValue] = {}
    for name, value in params.items():
        if name not in PARAMETER_FLAGS:
            raise FlagError("run parameter {!r} is not in stt_tasks.training.flags.PARAMETER_FLAGS".format(name))
        if PARAMETER_FLAGS[name].derived:
            raise FlagError("run parameter {!r} does not map to its flags one to one: use train_flags".format(name))
        for flag in PARAMETER_FLAGS[name].flags:
            flags[flag] = value
    return flags


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
