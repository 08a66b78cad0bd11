"""Preflight: the data root tree exists and is writable, the disk is large enough, a GPU is seen.

Run before a long job so that a full disk or a missing GPU fails in seconds, not after a day of
importing. With GPU steps on another host (an Edge worker), both hosts must see the same data root:
preflight leaves a token in it (written once, kept), and :func:`check_data_root_token`, run on the GPU
host before its first task, must read the same token there.

The disk estimate follows the original image's rule of thumb: 16 kHz 16-bit WAV takes about 115 MB
per hour, on top of the source archives and their extracted copy.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import write_json_atomic
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG

WAV_BYTES_PER_HOUR = 115 * 1000 ** 2
#: Common Voice mp3 at 64 kbit/s: what one hour of a source archive weighs, to guess hours.
SOURCE_BYTES_PER_HOUR = 29 * 1000 ** 2


def check_writable(directory: Path) -> Optional[str]:
    """None when a file can be created and removed in ``directory``, else the reason."""
    probe = directory / ".preflight-probe-{}".format(os.getpid())
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
        return None
    except OSError as error:
        return str(error)


def visible_gpus() -> List[str]:
    """GPUs listed by ``nvidia-smi -L`` (empty without the NVIDIA runtime)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if listed.returncode != 0:
        return []
    return [line.strip() for line in listed.stdout.decode("utf-8", "replace").splitlines() if line.strip()]


#: The data root's identity, at its top: written by the first preflight, never rewritten.
TOKEN_FILE = ".data-root-token.json"


def where(root: DataRoot) -> str:
    """The data root as a person finds it: the host's folder (the operator passes it) and the host."""
    host_dir = os.environ.get("STT_HOST_DATA_DIR") or str(root.root)
    host = os.environ.get("STT_TASK_HOST") or socket.gethostname()
    return "{} on {}".format(host_dir, host)


def data_root_token(root: DataRoot) -> str:
    """The data root's token, written with where it was written when absent (a re-run changes no byte)."""
    path = root.root / TOKEN_FILE
    if not path.is_file():
        write_json_atomic(path, {"token": uuid.uuid4().hex, "written_in": where(root)})
    return str(json.loads(path.read_text(encoding="utf-8"))["token"])


def check_data_root_token(root: DataRoot, expected: str, written_in: str) -> Dict[str, Any]:
    """Fail unless this host's data root holds the token preflight wrote on the Airflow host.

    ``written_in`` is where that preflight ran (its result); the message names both data roots.
    """
    if not expected:
        raise BadInputError("no data root token given: pass --data-root-token, the data_root_token of the result of "
                            "preflight on the Airflow host (the DAG passes it)")
    path = root.root / TOKEN_FILE
    try:
        found: Optional[str] = str(json.loads(path.read_text(encoding="utf-8"))["token"])
    except (OSError, ValueError, KeyError, TypeError):
        found = None
    if found != expected:
        raise BadInputError(
            "the data root here ({}) is not the one preflight wrote its token in ({}): {} {}. Mount the same "
            "folder (for example the same NFS export) at the same path on both hosts (STT_DATA_DIR of the "
            "stack and of the GPU worker).".format(
                where(root), written_in, path, "holds another token" if path.is_file() else "is missing"))
    LOG.info("data root %s holds the token of %s: the same data root", where(root), written_in)
    return {"data_root": str(root.root), "data_root_token": found, "checked_in": where(root)}


def source_bytes(sources: Path) -> int:
    if not sources.is_dir():
        return 0
    return sum(p.stat().st_size for p in sources.rglob("*") if p.is_file())


def preflight(data_root: DataRoot, expected_hours: Optional[float] = None, require_gpu: bool = False) -> Dict[str, Any]:
    """Create and check the tree; raise BadInputError naming what to fix."""
    try:
        data_root.create()
    except OSError as error:
        raise BadInputError(
            "cannot create the data tree under {} ({}). Mount a writable directory there "
            "(owned by uid 999 in the images).".format(data_root.root, error)
        ) from None
    problems = {name: check_writable(path) for name, path in data_root.tree().items()}
    unwritable = {name: reason for name, reason in problems.items() if reason}
    if unwritable:
        raise BadInputError(
            "not writable: {}. Give the container user (uid 999) write access to {}.".format(
                "; ".join("{} ({})".format(data_root.tree()[n], r) for n, r in unwritable.items()), data_root.root
            )
        )
    sources = source_bytes(data_root.sources)
    hours = expected_hours if expected_hours is not None else sources / SOURCE_BYTES_PER_HOUR
    needed = int(sources + hours * WAV_BYTES_PER_HOUR)
    free = shutil.disk_usage(str(data_root.root)).free
    LOG.info(
        "disk: %.1f GB free, about %.1f GB needed (%.0f h of audio, %.1f GB of sources)",
        free / 1e9,
        needed / 1e9,
        hours,
        sources / 1e9,
    )
    if free < needed:
        raise BadInputError(
            "{} has {:.1f} GB free but about {:.1f} GB are needed for {:.0f} h of audio: free some space "
            "or point the data root at a larger disk.".format(data_root.root, free / 1e9, needed / 1e9, hours)
        )
    gpus = visible_gpus()
    LOG.info("GPUs visible: %s", ", ".join(gpus) if gpus else "none")
    if require_gpu and not gpus:
        raise BadInputError(
            "no GPU visible (nvidia-smi lists none). Run the container with the NVIDIA runtime "
            "(--gpus all), or drop --require-gpu to train on CPU."
        )
    return {
        "data_root": str(data_root.root),
        "directories": {name: str(path) for name, path in data_root.tree().items()},
        "free_bytes": free,
        "needed_bytes": needed,
        "expected_hours": round(hours, 2),
        "gpus": gpus,
        "data_root_token": data_root_token(data_root),
        "token_written_in": where(data_root),
    }
