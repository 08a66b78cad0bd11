"""Augmentation specs (``--augment``) checked against coqui-stt-training 1.4.0's augmentations.

A spec is ``name[key=value,...]`` (or a bare ``name``); values are a number, a range ``start:end``,
either with a radius ``~r`` (``n=3:10~2``), a domain (``signal``, ``spectrogram``, ``features``) or,
for ``overlay``, the ``source`` of the noise samples. :data:`AUGMENTATIONS` mirrors the constructors in
``coqui_stt_training/util/augmentations.py``; a test in the CPU image checks it against them and
parses our specs with coqui's own parser. Pure Python, so a bad spec is refused when the run starts
(or in the DAG's trigger form), not when coqui builds its graph.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

#: The original image's augments.txt (8add94f6): its ``--augment`` specs.
ORIGINAL_SPECS: Tuple[str, ...] = (
    "reverb[p=0.1,delay=50.0~30.0,decay=10.0:2.0~1.0]",
    "resample[p=0.1,rate=12000:8000~4000]",
    "codec[p=0.1,bitrate=48000:16000]",
    "volume[p=0.1,dbfs=-10:-40]",
    "pitch[p=0.1,pitch=1~0.2]",
    "tempo[p=0.1,factor=1~0.5]",
    "frequency_mask[p=0.1,n=1:3,size=1:5]",
    "time_mask[p=0.1,domain=signal,n=3:10~2,size=50:100~40]",
    "dropout[p=0.1,rate=0.05]",
    "add[p=0.1,domain=signal,stddev=0~0.5]",
    "multiply[p=0.1,domain=features,stddev=0~0.5]",
)

# Kinds of values, as coqui converts them: p and max_time with float(), ranges with int_range/float_range.
FLOAT, INT_RANGE, FLOAT_RANGE, DOMAIN, PATH = "float", "int range", "float range", "domain", "path"
DOMAINS = ("signal", "spectrogram", "features")

#: Every augmentation of coqui 1.4.0, by spec name: its parameters and their kinds.
AUGMENTATIONS: Dict[str, Dict[str, str]] = {
    "overlay": {"source": PATH, "p": FLOAT, "snr": FLOAT_RANGE, "layers": INT_RANGE},
    "codec": {"p": FLOAT, "bitrate": INT_RANGE},
    "reverb": {"p": FLOAT, "delay": FLOAT_RANGE, "decay": FLOAT_RANGE},
    "resample": {"p": FLOAT, "rate": INT_RANGE},
    "volume": {"p": FLOAT, "dbfs": FLOAT_RANGE},
    "pitch": {"p": FLOAT, "pitch": FLOAT_RANGE},
    "tempo": {"p": FLOAT, "factor": FLOAT_RANGE, "max_time": FLOAT},
    "warp": {"p": FLOAT, "num_t": INT_RANGE, "num_f": INT_RANGE, "warp_t": FLOAT_RANGE, "warp_f": FLOAT_RANGE},
    "frequency_mask": {"p": FLOAT, "n": INT_RANGE, "size": INT_RANGE},
    "time_mask": {"p": FLOAT, "domain": DOMAIN, "n": INT_RANGE, "size": FLOAT_RANGE},
    "dropout": {"p": FLOAT, "domain": DOMAIN, "rate": FLOAT_RANGE},
    "add": {"p": FLOAT, "domain": DOMAIN, "stddev": FLOAT_RANGE},
    "multiply": {"p": FLOAT, "domain": DOMAIN, "stddev": FLOAT_RANGE},
}
#: Parameters without a default in coqui's constructor.
REQUIRED = {"overlay": ("source",)}

# A spec is one token; spaces are allowed inside its brackets (coqui strips them around keys and values).
_TOKEN = re.compile(r"[^\s\[\]]*\[[^\]]*\]?[^\s\[\]]*|\S+")
_SPEC = re.compile(r"^(?P<name>[a-z_]+)(?:\[(?P<params>[^\[\]]*)\])?$")

#: JSON Schema pattern of a specs string (the DAG's form): known names, bracketed parameters.
SPECS_PATTERN = r"^\s*((?:{})(\[[^\[\]]*\])?(\s+|$))*$".format("|".join(sorted(AUGMENTATIONS)))


def _check_value(name: str, key: str, kind: str, value: str) -> None:
    """Raise ValueError unless coqui 1.4.0 converts ``value`` as ``kind`` without error."""
    if kind == PATH:
        if not value:
            raise ValueError("{}: {} is empty".format(name, key))
        return
    if kind == DOMAIN:
        if value not in DOMAINS:
            raise ValueError("{}: domain must be one of {}, got {!r}".format(name, ", ".join(DOMAINS), value))
        return
    try:
        if kind == FLOAT:
            number = float(value)
            if key == "p" and not 0.0 <= number <= 1.0:
                raise ValueError("a probability is in [0, 1]")
            return
        # coqui's get_value_range: "<v>", "<v>~<r>", "<start>:<end>", "<start>:<end>~<r>"
        convert = int if kind == INT_RANGE else float
        parts = value.split("~")
        if len(parts) > 2:
            raise ValueError("more than one '~'")
        bounds = parts[0].split(":")
        if len(bounds) > 2:
            raise ValueError("more than one ':'")
        for part in bounds + parts[1:]:
            convert(part)
    except ValueError as error:
        raise ValueError("{}: {}={!r} is not a valid {} ({}); write a number, start:end, and optionally ~radius"
                         .format(name, key, value, kind, error)) from None


def check_spec(spec: str) -> str:
    """``spec`` without the spaces inside its brackets, or ValueError saying what is wrong in it."""
    match = _SPEC.match(spec)
    if not match:
        raise ValueError("{!r} is not an augmentation spec: write name[key=value,...], e.g. volume[p=0.1,dbfs=-10:-40]"
                         .format(spec))
    name = match.group("name")
    if name not in AUGMENTATIONS:
        raise ValueError("unknown augmentation {!r} in {!r}: coqui 1.4.0 has {}".format(
            name, spec, ", ".join(sorted(AUGMENTATIONS))))
    allowed = AUGMENTATIONS[name]
    given: Dict[str, str] = {}
    params = match.group("params")
    for assignment in params.split(",") if params and params.strip() else []:
        key, equals, value = (part.strip() for part in assignment.partition("="))
        if not equals or "=" in value:
            raise ValueError("{}: {!r} is not key=value (positional values are not supported)".format(spec, assignment))
        if key not in allowed:
            raise ValueError("{}: {} has no parameter {!r} (it has {})".format(spec, name, key, ", ".join(allowed)))
        if key in given:
            raise ValueError("{}: {} is given twice".format(spec, key))
        _check_value(name, key, allowed[key], value)
        given[key] = value
    missing = [key for key in REQUIRED.get(name, ()) if key not in given]
    if missing:
        raise ValueError("{}: {} needs {}".format(spec, name, ", ".join(missing)))
    return "{}[{}]".format(name, ",".join("{}={}".format(k, v) for k, v in given.items())) if given else name


def parse_specs(text: str) -> List[str]:
    """The specs of a whitespace-separated string (as the original's augments.txt listed them), checked."""
    return [check_spec(token) for token in _TOKEN.findall(str(text))]
