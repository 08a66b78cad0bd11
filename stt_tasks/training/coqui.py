"""Running coqui-stt-training modules from a step: in a subprocess, through the launcher.

A subprocess keeps coqui's process-wide state (its Config singleton, the default graph, sessions,
the compatibility layer's patches) out of the step's process. Coqui prints to stdout; we copy
every line to **stderr**, because the step's stdout must end with its JSON result line.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Deque, List, Mapping, Optional

from stt_tasks.diskspace import free_bytes, size_text
from stt_tasks.errors import DiskFullError, StepError
from stt_tasks.progress import LOG
from stt_tasks.training.flags import render


#: How an ENOSPC reads in coqui's (Python's and TensorFlow's) output.
_DISK_FULL = "No space left on device"


class CoquiError(StepError):
    """A coqui module exited with an error; the message quotes the end of its output."""


def tensorflow_major() -> Optional[int]:
    """Major version of the installed TensorFlow (from package metadata, without importing it)."""
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    for distribution in ("tensorflow-cpu", "tensorflow", "tensorflow-gpu", "nvidia-tensorflow"):
        try:
            return int(metadata.version(distribution).split(".")[0])
        except metadata.PackageNotFoundError:
            continue
    return None


def run_coqui(module: str, flags: Mapping[str, Any], extra_env: Optional[Mapping[str, str]] = None,
              on_line: Optional[Callable[[str], None]] = None) -> List[str]:
    """Run ``python -m stt_tasks.training.launch MODULE --flags``; return its output lines.

    ``on_line`` sees each line as it comes (the train step records losses epoch by epoch with it, so
    a killed run keeps the history of the epochs it finished).
    """
    argv = [sys.executable, "-u", "-m", "stt_tasks.training.launch", module] + render(flags)
    LOG.info("running %s", " ".join(argv[3:]))
    env = None
    if extra_env:
        import os

        env = dict(os.environ)
        env.update(extra_env)
    lines: List[str] = []
    tail: Deque[str] = collections.deque(maxlen=40)
    start = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        lines.append(line)
        tail.append(line)
        sys.stderr.write(line + "\n")
        if on_line is not None:
            on_line(line)
    returncode = process.wait()
    sys.stderr.flush()
    if returncode != 0 and any(_DISK_FULL in line for line in tail):
        # coqui's own writes (feature cache, checkpoints, summaries) filled the disk: worth a retry once
        # space is freed, as for the steps' own writes (stt_tasks.failures)
        free = free_bytes(Path(str(flags.get("checkpoint_dir") or flags.get("save_checkpoint_dir") or ".")))
        raise DiskFullError("no space left on device while {} ran (exit {}); {} free now on the file system of "
                            "its checkpoints. Free space on the data root (tmp/feature_cache/ and old checkpoints "
                            "can go), then retry: training resumes from its last checkpoint.".format(
                                module, returncode, size_text(free)))
    if returncode != 0:
        raise CoquiError(
            "{} failed (exit {}) after {:.0f} s; its last lines:\n{}".format(
                module, returncode, time.monotonic() - start, "\n".join(tail)
            )
        )
    LOG.info("%s done in %.1f s", module, time.monotonic() - start)
    return lines
