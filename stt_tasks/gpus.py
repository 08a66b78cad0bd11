"""The ``gpus`` run parameter: which GPUs of the host a training container sees.

``all`` (every GPU of the host), a count (``2``: any two) or device ids (``0,2``, or ``device=1`` for
one id). The step operator turns it into the container's NVIDIA device request; coqui then trains
one tower per visible GPU, so the effective batch is ``batch_size`` times the GPUs it sees.
Pure: no Docker, no Airflow (the step operator and the steps share it).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional, Sequence, Tuple

from stt_tasks.errors import BadInputError

#: The parameter's default: every GPU the container is given (and on a CPU host, none: no request at all).
ALL = "all"
_COUNT = re.compile(r"^[1-9][0-9]*$")
_IDS = re.compile(r"^(device=)?([0-9]+(,[0-9]+)*)$")
#: JSON Schema pattern of the DAG's Param (the same spellings as :func:`parse_gpus`)
PATTERN = r"^(all|[1-9][0-9]*|[0-9]+(,[0-9]+)+|device=[0-9]+(,[0-9]+)*)$"


class GpuSelection(NamedTuple):
    """A Docker device request's two ways of naming GPUs: a count (-1: all) or device ids."""

    count: int
    device_ids: Tuple[str, ...]


def selection(text: str) -> GpuSelection:
    """The GPUs ``text`` names; ValueError saying the accepted spellings otherwise.

    A bare number is a count (as ``docker run --gpus 2``); ids need a comma or ``device=``.
    """
    value = str(text).strip().lower().replace(" ", "")
    if value == ALL:
        return GpuSelection(-1, ())
    if _COUNT.match(value):
        return GpuSelection(int(value), ())
    ids = _IDS.match(value)
    if ids and ("," in value or value.startswith("device=")):
        return GpuSelection(0, tuple(ids.group(2).split(",")))
    raise ValueError("expected all, a count of GPUs (2) or device ids (0,2 or device=1), got {!r}".format(text))


def parse_gpus(text: str) -> str:
    """The parameter's value, checked and spelled one way (``all``, ``2``, ``0,2``)."""
    chosen = selection(text)
    if chosen.device_ids:
        return ",".join(chosen.device_ids)
    return ALL if chosen.count < 0 else str(chosen.count)


def is_default(text: Optional[str]) -> bool:
    """True for ``all`` (or no value): what a CPU host runs with, having no GPU to choose from."""
    return text is None or str(text).strip().lower() in ("", ALL)


def effective_batch(batch_size: int, visible: Sequence[str]) -> int:
    """Clips per training step: coqui splits each step over one tower per visible GPU (the CPU: one)."""
    return batch_size * max(1, len(visible))


def check_visible(gpus: str, visible: Sequence[str]) -> None:
    """Refuse a chosen set of GPUs where the container sees none (a CPU host, GPUs not enabled)."""
    if is_default(gpus) or visible:
        return
    raise BadInputError(
        "gpus={} but this container sees no GPU: enable GPUs for the pipeline (STT_GPU_ENABLED=true, "
        "the NVIDIA runtime on the host) or leave gpus at all.".format(gpus))
