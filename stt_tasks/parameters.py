"""The run parameters of the original French training image, as one typed table.

Each parameter has the original environment variable name (still honoured), a kebab-case CLI
option, a default, and a validator. The same table feeds the CLI, the DAG's Params and the model
card, so a parameter is declared exactly once.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from stt_tasks.gpus import ALL as ALL_GPUS, PATTERN as GPUS_PATTERN, parse_gpus
from stt_tasks.training.augmentation import ORIGINAL_SPECS, SPECS_PATTERN, parse_specs


def parse_bool(text: str) -> bool:
    """Accept the spellings the original image's shell scripts used (1/0, true/false, yes/no)."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected a boolean (1/0, true/false), got {!r}".format(text))


def parse_evaluate_range(text: str) -> Optional[Tuple[float, float, int]]:
    """``alpha_max,beta_max,n_trials`` (empty: no decoder tuning)."""
    if not str(text).strip():
        return None
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3:
        raise ValueError("expected alpha_max,beta_max,n_trials (for example 5,5,600), got {!r}".format(text))
    alpha_max, beta_max, trials = float(parts[0]), float(parts[1]), int(parts[2])
    if alpha_max <= 0 or beta_max <= 0 or trials < 1:
        raise ValueError("alpha_max and beta_max must be > 0 and n_trials >= 1, got {!r}".format(text))
    return alpha_max, beta_max, trials


def parse_optional_bool(text: str) -> Optional[bool]:
    """Like :func:`parse_bool`, plus ``auto`` (None: the step decides from the image it runs in)."""
    if str(text).strip().lower() == "auto":
        return None
    return parse_bool(text)


def _int_between(minimum: int, maximum: Optional[int], meaning: str) -> Callable[[str], int]:
    """A parser of integers from ``minimum`` to ``maximum`` (None: no upper bound); ``meaning`` says which."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError("must be {}, got {}".format(meaning, value))
        return value

    return parse


_positive_int = _int_between(1, None, "a positive integer")
_non_negative_int = _int_between(0, None, "an integer >= 0")
_log_level = _int_between(0, 3, "0 (debug), 1 (info), 2 (warnings) or 3 (errors)")


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise ValueError("must be in [0, 1), got {}".format(value))
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be > 0, got {}".format(value))
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must be >= 0, got {}".format(value))
    return value


def _warm_start(text: str) -> str:
    """``none`` or ``previous`` (the last successful run's model)."""
    value = str(text).strip().lower() or "none"
    if value not in ("none", "previous"):
        raise ValueError("expected none or previous, got {!r}".format(text))
    return value


def _text(text: str) -> str:
    return str(text)


def _optional_text(text: str) -> Optional[str]:
    """Empty is "not given" (None)."""
    return str(text) if str(text).strip() else None


def _paths(values: Any) -> List[str]:
    """A list of paths: given as a list (CLI, DAG) or as one whitespace-separated string (environment)."""
    if isinstance(values, str):
        return values.split()
    return [str(v) for v in values]


@dataclass(frozen=True)
class Parameter:
    """One run parameter, declared once: the CLI option, the environment variable, the DAG's Param
    (JSON Schema), the coqui flags it sets and whether it decides a step's output all come from here."""

    name: str
    #: the original image's environment variable ("" for the pipeline's own parameters: none)
    env: str
    #: the default as the text an environment variable would hold
    default: str
    parse: Callable[[Any], Any]
    help: str
    #: JSON Schema of the value (the DAG's Params validate a run's configuration with it)
    schema: Mapping[str, Any]
    #: coqui-stt-training flags set to the value one to one
    coqui: Tuple[str, ...] = ()
    #: the flags are not the value itself: the step derives them (see ``stt_tasks.training.flags``)
    derived: bool = False
    #: where a parameter without coqui flags is used (or how a derived one is)
    note: str = ""
    #: False for parameters that change no byte of a step's output (log level, caches): markers leave them out
    changes_output: bool = True
    #: the command-line option, when not ``--<name>`` (kept from the original CLI)
    cli_option: str = ""
    #: a list of values (one option followed by every value)
    multiple: bool = False
    #: the value is a host path the step operator bind-mounts read-only at this container path
    mount: str = ""

    @property
    def option(self) -> str:
        return self.cli_option or "--" + self.name.replace("_", "-")

    def typed_default(self) -> Any:
        """The default as the JSON value a DAG parameter holds (None for an optional value left empty)."""
        value = self.parse(self.default)
        if self.multiple:
            return value or None
        named = value is None and self.default and self.default in self.schema.get("enum", ())
        if isinstance(value, (tuple, list)) or named:
            return self.default  # text parsed into parts (decoder range, specs) or a named choice ("auto")
        return value

    def render(self, value: Any) -> List[str]:
        """The command-line arguments for a DAG parameter's JSON value (none for None or an empty list).

        ``--option=value`` in one argument, so that a value starting with ``-`` stays a value.
        """
        if value is None:
            return []
        if self.mount:
            return ["{}={}".format(self.option, self.mount)] if value else []
        if self.multiple:
            values = [str(v) for v in value]
            return [self.option] + values if values else []
        if isinstance(value, bool):
            return ["{}={}".format(self.option, "1" if value else "0")]
        return ["{}={}".format(self.option, value)]

    def resolve(self, cli_value: Any) -> Any:
        """CLI value, else environment variable, else default; parsed and validated."""
        if cli_value is not None:
            raw = cli_value
        elif self.env and self.env in os.environ:
            raw = os.environ[self.env]
        else:
            raw = self.default
        try:
            return self.parse(raw)
        except ValueError as error:
            where = "{} (env {})".format(self.option, self.env) if self.env else self.option
            raise ValueError("{}: {}".format(where, error)) from None


# Bounds as exclusive limits: the trigger form's number fields silently raise a value below a schema's
# ``minimum`` (or lower one above its ``maximum``) to it, so that epochs -3 would start a run with 1; with
# exclusive bounds the form leaves the value as typed and the server refuses it with the parameter's name.
_POSITIVE_INT = {"type": "integer", "exclusiveMinimum": 0}
#: a number >= 0 (as "not below 0": ``minimum`` would be clamped to by the form)
_NON_NEGATIVE = {"type": "number", "not": {"exclusiveMaximum": 0}}
_BOOLEAN = {"type": "boolean"}
_DECODER = "also the decoder of the test, export and transcribe steps"

PARAMETERS: Dict[str, Parameter] = {
    p.name: p
    for p in [
        Parameter("batch_size", "BATCH_SIZE", "64", _positive_int, "train/dev/test batch size", _POSITIVE_INT,
                  coqui=("train_batch_size", "dev_batch_size", "test_batch_size")),
        Parameter("epochs", "EPOCHS", "40", _positive_int, "maximum number of training epochs", _POSITIVE_INT,
                  coqui=("epochs",), note="the train step passes the epochs still to run when resuming"),
        Parameter("learning_rate", "LEARNING_RATE", "0.0001", _positive_float, "Adam learning rate",
                  {"type": "number", "exclusiveMinimum": 0}, coqui=("learning_rate",)),
        Parameter("dropout", "DROPOUT", "0.3", _unit_float, "dropout rate of the acoustic model",
                  {"type": "number", "not": {"exclusiveMaximum": 0}, "exclusiveMaximum": 1}, coqui=("dropout_rate",),
                  note="coqui's dropout_rate2/3/6 default to it"),
        Parameter("n_hidden", "N_HIDDEN", "2048", _positive_int, "width of the hidden layers", _POSITIVE_INT,
                  coqui=("n_hidden",)),
        # coqui's evaluate decodes with export_beam_width, and export embeds it: set both.
        Parameter("beam_width", "BEAM_WIDTH", "500", _positive_int, "CTC beam search width", _POSITIVE_INT,
                  coqui=("beam_width", "export_beam_width")),
        Parameter("lm_alpha", "LM_ALPHA", "0.0", _non_negative_float,
                  "language model weight (0 with LM_BETA 0: the scorer's own, tuned by optimize-lm)",
                  _NON_NEGATIVE, coqui=("lm_alpha",)),
        Parameter("lm_beta", "LM_BETA", "0.0", _non_negative_float,
                  "word insertion bonus (0 with LM_ALPHA 0: the scorer's own, tuned by optimize-lm)",
                  _NON_NEGATIVE, coqui=("lm_beta",)),
        Parameter("lm_top_k", "LM_TOP_K", "500000", _positive_int, "vocabulary size of the scorer", _POSITIVE_INT,
                  note="lm step: vocabulary size of the scorer"),
        Parameter(
            "lm_add_excluded_max_sec", "LM_ADD_EXCLUDED_MAX_SEC", "0", parse_bool,
            "add the transcripts of the clips the importers dropped as too long for training "
            "(the *_too_long.txt files under extracted/data/) to the LM text",
            _BOOLEAN, note="lm step: the importers' too-long transcripts join the LM text"),
        Parameter("amp", "AMP", "0", parse_bool, "automatic mixed precision (TF1 GPU image)", _BOOLEAN,
                  coqui=("automatic_mixed_precision",), derived=True, note="refused on TensorFlow 2 images"),
        Parameter(
            "train_cudnn", "TRAIN_CUDNN", "auto", parse_optional_bool,
            "cuDNN LSTM (TF1 GPU image only; auto: on where a GPU and cuDNN LSTM are available)",
            {"enum": [True, False, "auto"]}, coqui=("train_cudnn",), note="refused on TensorFlow 2 images",
            derived=True),
        Parameter("early_stop", "EARLY_STOP", "1", parse_bool, "stop when the dev loss stops improving", _BOOLEAN,
                  coqui=("early_stop",)),
        Parameter(
            "english_compatible", "ENGLISH_COMPATIBLE", "0", parse_bool,
            "strip accents to ASCII and use the English alphabet (transfer from English models)",
            _BOOLEAN, note="importers, alphabet and lm steps"),
        Parameter(
            "lm_evaluate_range", "LM_EVALUATE_RANGE", "", parse_evaluate_range,
            "decoder tuning: alpha_max,beta_max,n_trials (empty: no tuning)",
            {"type": ["null", "string"], "pattern": r"^$|^[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?,[1-9][0-9]*$"},
            note="optimize-lm step: our own Optuna search (float ranges, SQLite study)"),
        Parameter(
            "feature_cache", "FEATURE_CACHE", "1", parse_bool,
            "cache the training clips' features on disk (tmp/feature_cache/, kept while the train CSVs, alphabet "
            "and augmentation stay the same): epochs after the first skip decoding and feature extraction",
            _BOOLEAN, coqui=("feature_cache",), derived=True, changes_output=False,
            note="true: a cache path under tmp/feature_cache/ named by the train CSVs, alphabet and augmentation"),
        Parameter(
            "enable_augments", "ENABLE_AUGMENTS", "0", parse_bool,
            "augment the training clips with the specs of AUGMENTATION_ARGUMENTS", _BOOLEAN,
            coqui=("augment", "cache_for_epochs"), derived=True, note="switches the two below on"),
        Parameter(
            "augmentation_arguments", "AUGMENTATION_ARGUMENTS", " ".join(ORIGINAL_SPECS), parse_specs,
            "augmentation specs (coqui --augment), space-separated, name[key=value,...]; default: the original "
            "augments.txt's (used only when ENABLE_AUGMENTS is on)",
            {"type": "string", "pattern": SPECS_PATTERN}, coqui=("augment",), derived=True,
            note="one argument per spec, with enable_augments"),
        Parameter(
            "cache_for_epochs", "CACHE_FOR_EPOCHS", "10", _non_negative_int,
            "with augmentation and the feature cache: recompute the cached (augmented) features every this many "
            "epochs, 0 never (the original augments.txt's --cache_for_epochs)",
            {"type": "integer", "exclusiveMinimum": -1}, coqui=("cache_for_epochs",), derived=True,
            note="with enable_augments and feature_cache"),
        # coqui's own test hangs at exit (STT#2195) and writes the feature cache from its 3 batches only.
        Parameter(
            "skip_batch_test", "SKIP_BATCH_TEST", "1", parse_bool,
            "skip the memory test (a short training on the longest clips) before training", _BOOLEAN,
            coqui=("skip_batch_test",), derived=True, changes_output=False,
            note="always true for coqui: when false, the train step runs the same memory test as a separate "
                 "short training"),
        Parameter(
            "log_level", "LOG_LEVEL", "1", _log_level,
            "coqui and TensorFlow log level: 0 debug, 1 info, 2 warnings, 3 errors",
            {"type": "integer", "exclusiveMinimum": -1, "exclusiveMaximum": 4}, coqui=("log_level",), derived=True,
            changes_output=False,
            note="also TF_CPP_MIN_LOG_LEVEL; the train step passes coqui at most 1: its INFO lines carry the "
                 "per-epoch losses"),
        Parameter(
            "duplicate_sentence_count", "DUPLICATE_SENTENCE_COUNT", "1", _positive_int,
            "Common Voice: >1 re-splits validated clips allowing that many recordings per sentence",
            _POSITIVE_INT, note="Common Voice importer"),
        # The pipeline's own parameters (no variable of the original image).
        Parameter(
            "download", "", "0", parse_bool,
            "download open corpora and the LM texts absent from sources/ (Common Voice is always placed by hand)",
            _BOOLEAN, note="importers and lm step: the step then runs with a network"),
        Parameter(
            "transfer_checkpoint", "STT_TRANSFER_CHECKPOINT", "", _optional_text,
            "checkpoint folder to fine-tune from: in the DAG an absolute path on the Docker host (mounted "
            "read-only at /transfer-checkpoint); empty: train from scratch",
            # Docker refuses a relative bind source; "/" alone would be the whole host.
            {"type": ["null", "string"], "pattern": "^(/[^/].*)?$",
             "title": "transfer_checkpoint: an absolute host path (/...), or empty"},
            note="train step", mount="/transfer-checkpoint"),
        Parameter(
            "warm_start", "", "none", _warm_start,
            "previous: fine-tune from the best checkpoint of the last successful run (models/previous/, recorded "
            "by the training DAG's last task; all layers, the output layer re-initialised when the alphabet "
            "changed), with warm_start_epochs and warm_start_learning_rate; none: as without",
            {"enum": ["none", "previous"]},
            note="train step (and the leakage step checks dev/test against that model's train set)"),
        Parameter(
            "warm_start_epochs", "", "10", _positive_int,
            "epochs of a warm-started training (instead of EPOCHS)", _POSITIVE_INT, coqui=("epochs",), derived=True,
            note="train step, with warm_start=previous"),
        Parameter(
            "warm_start_learning_rate", "", "0.00005", _positive_float,
            "learning rate of a warm-started training (instead of LEARNING_RATE: a fine-tuning)",
            {"type": "number", "exclusiveMinimum": 0}, coqui=("learning_rate",), derived=True,
            note="train step, with warm_start=previous"),
        # The effective batch (batch_size x GPUs) is recorded in training.json; which GPUs a host lends a run
        # changes how long it takes, not what it decides to train: markers leave it out.
        Parameter(
            "gpus", "", ALL_GPUS, parse_gpus,
            "GPUs of the training steps' container: all, a count (2) or device ids (0,2; device=1 for one); "
            "coqui trains one tower per GPU, so the effective batch is batch_size x GPUs. Anything but all "
            "needs STT_GPU_ENABLED",
            {"type": "string", "pattern": GPUS_PATTERN}, changes_output=False,
            note="train, optimize-lm and test steps: the step operator's NVIDIA device request"),
        Parameter(
            "lm_texts", "", "", _paths,
            "extra LM text files (.xz, .gz, .bz2 or plain), relative to the data root (e.g. sources/my_text.txt.xz)",
            {"type": ["null", "array"], "items": {"type": "string", "pattern": "^[^/].*"}},
            note="lm step", cli_option="--text", multiple=True),
        Parameter(
            "lm_memory", "", "85%", _text, "memory KenLM's lmplz may use to sort n-grams (e.g. 85% or 8G)",
            {"type": "string", "pattern": "^[0-9]+(%|[kKmMgGtT])?$"}, note="lm step", cli_option="--memory",
            changes_output=False),
    ]
}


def add_parameter_options(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add the named parameters as options; they are parsed by :func:`resolve_parameters`."""
    for name in names:
        parameter = PARAMETERS[name]
        where = "env {}, ".format(parameter.env) if parameter.env else ""
        settings: Dict[str, Any] = {"dest": name, "default": None,
                                    "help": "{} ({}default {!r})".format(parameter.help, where, parameter.default)
                                    .replace("%", "%%")}
        if parameter.multiple:
            settings.update(nargs="+", metavar="VALUE")
        elif parameter.schema.get("type") == "boolean":
            settings.update(nargs="?", const="1", metavar="0|1")  # ``--download`` alone switches it on
        else:
            settings["metavar"] = "VALUE"
        parser.add_argument(parameter.option, **settings)


def resolve_parameters(namespace: argparse.Namespace, names: Iterable[str]) -> Dict[str, Any]:
    """Parsed values of the named parameters, from the CLI, the environment or the defaults."""
    return {name: PARAMETERS[name].resolve(getattr(namespace, name, None)) for name in names}
