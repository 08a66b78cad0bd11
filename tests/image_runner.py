"""Driving the CPU image from host tests: ``docker run --network none`` as uid 999, like Airflow does.

Tests that use it are skipped when the image is absent on a developer's machine, and fail in CI
(``CI`` set), where the image is always built first (``.ci/setup.d/30-images.sh``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

IMAGE = os.environ.get("STT_CPU_IMAGE", "stt-tasks-cpu")
REPO = Path(__file__).resolve().parents[1]
SMOKE_FIXTURES = REPO.parent / "shared" / "fixtures" / "coqui-smoke-test"


def image_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "image", "inspect", IMAGE], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


needs_image = pytest.mark.skipif(
    not image_available() and not os.environ.get("CI"),
    reason="image {} not built (make images-ci); CI always runs these".format(IMAGE),
)


def writable_dir(path: Path) -> Path:
    """A directory the image's uid 999 can write to."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(str(path), 0o777)
    return path


class ImageRun:
    def __init__(self, completed: "subprocess.CompletedProcess[bytes]") -> None:
        self.returncode = completed.returncode
        self.stdout = completed.stdout.decode("utf-8", errors="replace")
        self.stderr = completed.stderr.decode("utf-8", errors="replace")

    @property
    def result(self) -> Dict[str, Any]:
        lines = self.stdout.splitlines()
        assert lines, "no stdout; stderr:\n" + self.stderr[-5000:]
        return json.loads(lines[-1])

    def explain(self) -> str:
        return "exit {}\n--- stderr (end) ---\n{}\n--- stdout (end) ---\n{}".format(
            self.returncode, self.stderr[-6000:], self.stdout[-2000:])


def docker_command(args: Sequence[str], volumes: Optional[Dict[Path, str]] = None, entrypoint: Optional[str] = None,
                   env: Optional[Dict[str, str]] = None, name: Optional[str] = None) -> List[str]:
    """``docker run --rm --network none [--name N] [-v HOST:CONTAINER...] IMAGE ARGS``."""
    command: List[str] = ["docker", "run", "--rm", "--network", "none"]
    if name:
        command += ["--name", name]
    for host, container in (volumes or {}).items():
        command += ["-v", "{}:{}".format(host, container)]
    for key, value in (env or {}).items():
        command += ["-e", "{}={}".format(key, value)]
    if entrypoint:
        command += ["--entrypoint", entrypoint]
    return command + [IMAGE] + list(args)


def run_in_image(args: Sequence[str], volumes: Optional[Dict[Path, str]] = None, entrypoint: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, timeout: float = 900) -> ImageRun:
    """Run a step (or ``--entrypoint python`` module) in the image and wait for it."""
    command = docker_command(args, volumes, entrypoint, env)
    return ImageRun(subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout))
