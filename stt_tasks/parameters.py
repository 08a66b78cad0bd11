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


@dataclass(frozen=True)
class Parameter:
    """One run parameter: its name (snake_case), original variable, default and parser."""

    name: str
    env: str
    default: str
    parse: Callable[[str], Any]
    help: str
    #: JSON Schema of the value (the DAG's Params validate a run's configuration with it)
    schema: Mapping[str, Any]

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def typed_default(self) -> Any:
        """The default as the JSON value a DAG parameter holds (bool, int, float or str)."""
        if self.schema.get("type") == "string" or self.default in self.schema.get("enum", ()):
            return self.default
        return self.parse(self.default)

    def to_cli(self, value: Any) -> str:
        """A DAG parameter's JSON value as this option's command-line text."""
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def resolve(self, cli_value: Optional[str]) -> Any:
        """CLI value, else environment variable, else default; parsed and validated."""
        raw = cli_value if cli_value is not None else os.environ.get(self.env, self.default)
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ValueError("{} (env {}): {}".format(self.option, self.env, error)) from None


_POSITIVE_INT = {"type": "integer", "minimum": 1}
_BOOLEAN = {"type": "boolean"}

PARAMETERS: Dict[str, Parameter] = {
    p.name: p
    for p in [
        Parameter("batch_size", "BATCH_SIZE", "64", _positive_int, "train/dev/test batch size", _POSITIVE_INT),
        Parameter("epochs", "EPOCHS", "40", _positive_int, "maximum number of training epochs", _POSITIVE_INT),
        Parameter(
            "learning_rate",
            "LEARNING_RATE",
            "0.0001",
            _positive_float,
            "Adam learning rate",
            {"type": "number", "exclusiveMinimum": 0},
        ),
        Parameter(
            "dropout",
            "DROPOUT",
            "0.3",
            _unit_float,
            "dropout rate of the acoustic model",
            {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        ),
        Parameter("n_hidden", "N_HIDDEN", "2048", _positive_int, "width of the hidden layers", _POSITIVE_INT),
        Parameter("beam_width", "BEAM_WIDTH", "500", _positive_int, "CTC beam search width", _POSITIVE_INT),
        Parameter(
            "lm_alpha", "LM_ALPHA", "0.0", _non_negative_float, "language model weight", {"type": "number", "minimum": 0}
        ),
        Parameter(
            "lm_beta", "LM_BETA", "0.0", _non_negative_float, "word insertion bonus", {"type": "number", "minimum": 0}
        ),
        Parameter("lm_top_k", "LM_TOP_K", "500000", _positive_int, "vocabulary size of the scorer", _POSITIVE_INT),
        Parameter(
            "lm_add_excluded_max_sec",
            "LM_ADD_EXCLUDED_MAX_SEC",
            "0",
            parse_bool,
            "add the transcripts of the clips the importers dropped as too long for training "
            "(the *_too_long.txt files under extracted/data/) to the LM text",
            _BOOLEAN,
        ),
        Parameter("amp", "AMP", "0", parse_bool, "automatic mixed precision (TF1 GPU image)", _BOOLEAN),
        Parameter(
            "train_cudnn",
            "TRAIN_CUDNN",
            "auto",
            parse_optional_bool,
            "cuDNN LSTM (TF1 GPU image only; auto: on where a GPU and cuDNN LSTM are available)",
            {"enum": [True, False, "auto"]},
        ),
        Parameter("early_stop", "EARLY_STOP", "1", parse_bool, "stop when the dev loss stops improving", _BOOLEAN),
        Parameter(
            "english_compatible",
            "ENGLISH_COMPATIBLE",
            "0",
            parse_bool,
            "strip accents to ASCII and use the English alphabet (transfer from English models)",
            _BOOLEAN,
        ),
        Parameter(
            "lm_evaluate_range",
            "LM_EVALUATE_RANGE",
            "",
            parse_evaluate_range,
            "decoder tuning: alpha_max,beta_max,n_trials (empty: no tuning)",
            {"type": "string", "pattern": r"^$|^[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?,[1-9][0-9]*$"},
        ),
        Parameter(
            "feature_cache",
            "FEATURE_CACHE",
            "1",
            parse_bool,
            "cache the training clips' features on disk (tmp/feature_cache/, kept while the train CSVs, alphabet "
            "and augmentation stay the same): epochs after the first skip decoding and feature extraction",
            _BOOLEAN,
        ),
        Parameter(
            "enable_augments",
            "ENABLE_AUGMENTS",
            "0",
            parse_bool,
            "augment the training clips with the specs of AUGMENTATION_ARGUMENTS",
            _BOOLEAN,
        ),
        Parameter(
            "augmentation_arguments",
            "AUGMENTATION_ARGUMENTS",
            " ".join(ORIGINAL_SPECS),
            parse_specs,
            "augmentation specs (coqui --augment), space-separated, name[key=value,...]; default: the original "
            "augments.txt's (used only when ENABLE_AUGMENTS is on)",
            {"type": "string", "pattern": SPECS_PATTERN},
        ),
        Parameter(
            "cache_for_epochs",
            "CACHE_FOR_EPOCHS",
            "10",
            _non_negative_int,
            "with augmentation and the feature cache: recompute the cached (augmented) features every this many "
            "epochs, 0 never (the original augments.txt's --cache_for_epochs)",
            {"type": "integer", "minimum": 0},
        ),
        Parameter(
            "skip_batch_test",
            "SKIP_BATCH_TEST",
            "1",
            parse_bool,
            "skip the memory test (a short training on the longest clips) before training",
            _BOOLEAN,
        ),
        Parameter(
            "log_level",
            "LOG_LEVEL",
            "1",
            _log_level,
            "coqui and TensorFlow log level: 0 debug, 1 info, 2 warnings, 3 errors",
            {"type": "integer", "minimum": 0, "maximum": 3},
        ),
        Parameter(
            "duplicate_sentence_count",
            "DUPLICATE_SENTENCE_COUNT",
            "1",
            _positive_int,
            "Common Voice: >1 re-splits validated clips allowing that many recordings per sentence",
            _POSITIVE_INT,
        ),
    ]
}


def add_parameter_options(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add the named parameters as string options; they are parsed by :func:`resolve_parameters`."""
    for name in names:
        parameter = PARAMETERS[name]
        parser.add_argument(
            parameter.option,
            dest=name,
            default=None,
            metavar="VALUE",
            help="{} (env {}, default {!r})".format(parameter.help, parameter.env, parameter.default),
        )


def resolve_parameters(namespace: argparse.Namespace, names: Iterable[str]) -> Dict[str, Any]:
    """Parsed values of the named parameters, from the CLI, the environment or the defaults."""
    return {name: PARAMETERS[name].resolve(getattr(namespace, name, None)) for name in names}


def all_parameter_names() -> List[str]:
    return list(PARAMETERS)
