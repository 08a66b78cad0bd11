"""Preflight: tree created and writable, disk estimate, GPU report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from stt_tasks.errors import EXIT_BAD_INPUT
from stt_tasks.preflight import WAV_BYTES_PER_HOUR

#: what ``nvidia-smi -L`` prints on a two-GPU machine
LISTED_GPUS = [
    "GPU 0: NVIDIA GeForce RTX 3090 (UUID: GPU-5f2a1c3e-0000-0000-0000-000000000000)",
    "GPU 1: NVIDIA GeForce RTX 3090 (UUID: GPU-9b7d4e21-0000-0000-0000-000000000000)",
]
#: a PATH without any nvidia-smi (none is installed here; this keeps it so on a GPU machine too)
NO_NVIDIA_PATH = "/usr/bin:/bin"


def fake_nvidia_smi(directory: Path, output: str, exit_code: int = 0) -> str:
    """A PATH whose ``nvidia-smi`` prints ``output`` and exits ``exit_code``.

    No NVIDIA driver runs here: this stands in for the tool so that the parsing of its listing, and
    what preflight decides from it, are checked rather than assumed.
    """
    directory.mkdir()
    script = directory / "nvidia-smi"
    script.write_text("#!/bin/sh\ncat <<'LISTING'\n{}\nLISTING\nexit {}\n".format(output, exit_code))
    script.chmod(0o755)
    return "{}:{}".format(directory, NO_NVIDIA_PATH)


def test_creates_the_tree(tmp_path, step):
    (tmp_path / "root" / "sources").mkdir(parents=True)
    (tmp_path / "root" / "sources" / "release.tar.gz").write_bytes(b"x" * 1000)
    run = step("preflight", "--data-root", str(tmp_path / "root"), "--expected-hours", "2",
               env={"PATH": NO_NVIDIA_PATH})
    assert run.returncode == 0, run.stderr
    for name in ("sources", "extracted", "data", "lm", "models", "checkpoints", "tmp", "reports"):
        assert (tmp_path / "root").joinpath(run.result["directories"][name]).is_dir()
    assert run.result["gpus"] == []
    # the sources already there plus 2 h of WAV
    assert run.result["needed_bytes"] == 1000 + 2 * WAV_BYTES_PER_HOUR
    assert run.result["expected_hours"] == 2
    # the free space of the data root's disk (others write to it meanwhile: within 2 %)
    free = shutil.disk_usage(str(tmp_path / "root")).free
    assert abs(run.result["free_bytes"] - free) <= 0.02 * free


def test_lists_the_gpus_nvidia_smi_reports(tmp_path, step):
    path = fake_nvidia_smi(tmp_path / "bin", "\n".join(LISTED_GPUS) + "\n")
    run = step("preflight", "--data-root", str(tmp_path / "root"), "--require-gpu", env={"PATH": path})
    assert run.returncode == 0, run.stderr
    assert run.result["gpus"] == LISTED_GPUS


def test_failing_nvidia_smi_means_no_gpu(tmp_path, step):
    # what nvidia-smi does in a container started without the NVIDIA runtime's driver
    path = fake_nvidia_smi(tmp_path / "bin", "NVIDIA-SMI has failed because it couldn't communicate with the "
                           "NVIDIA driver.", exit_code=9)
    run = step("preflight", "--data-root", str(tmp_path / "root"), env={"PATH": path})
    assert run.returncode == 0 and run.result["gpus"] == []
    refused = step("preflight", "--data-root", str(tmp_path / "root"), "--require-gpu", env={"PATH": path})
    assert refused.returncode == EXIT_BAD_INPUT and "NVIDIA runtime" in refused.stderr


def test_data_root_from_environment(tmp_path, step):
    run = step("preflight", env={"STT_DATA_ROOT": str(tmp_path / "env-root")})
    assert run.returncode == 0 and run.result["data_root"] == str(tmp_path / "env-root")


def test_blocked_directory_names_the_path(tmp_path, step):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "models").write_text("a file where a folder should be")
    run = step("preflight", "--data-root", str(tmp_path / "root"))
    assert run.returncode == EXIT_BAD_INPUT
    assert str(tmp_path / "root") in run.stderr


def test_disk_check_compares_the_estimate_with_the_free_space(tmp_path, step):
    free = shutil.disk_usage(str(tmp_path)).free
    # half the free space fits, twice does not: the limit is the disk's free space, not a constant
    fitting = step("preflight", "--data-root", str(tmp_path), "--expected-hours", str(free / 2 / WAV_BYTES_PER_HOUR))
    assert fitting.returncode == 0, fitting.stderr
    hours = 2 * free / WAV_BYTES_PER_HOUR
    run = step("preflight", "--data-root", str(tmp_path), "--expected-hours", str(hours))
    assert run.returncode == EXIT_BAD_INPUT and "Traceback" not in run.stderr
    message = re.search(r"(\S+) has ([\d.]+) GB free but about ([\d.]+) GB are needed", run.stderr)
    assert message, run.stderr
    assert message.group(1) == str(tmp_path)
    assert abs(float(message.group(2)) - free / 1e9) <= 0.02 * free / 1e9 + 0.1
    assert abs(float(message.group(3)) - hours * WAV_BYTES_PER_HOUR / 1e9) <= 0.05


def test_require_gpu_without_gpu(tmp_path, step):
    run = step("preflight", "--data-root", str(tmp_path), "--require-gpu", env={"PATH": NO_NVIDIA_PATH})
    assert run.returncode == EXIT_BAD_INPUT and "NVIDIA runtime" in run.stderr


def test_the_training_host_finds_the_token_preflight_wrote_in_the_same_data_root(tmp_path, step):
    airflow_host = {"STT_HOST_DATA_DIR": "/srv/stt-data", "STT_TASK_HOST": "airflow-box", "PATH": NO_NVIDIA_PATH}
    first = step("preflight", "--data-root", str(tmp_path / "root"), env=airflow_host)
    assert first.returncode == 0, first.stderr
    token_file = tmp_path / "root" / ".data-root-token.json"
    written = token_file.read_bytes()
    again = step("preflight", "--data-root", str(tmp_path / "root"), env=airflow_host)
    assert again.result["data_root_token"] == first.result["data_root_token"]
    assert token_file.read_bytes() == written  # written once: a re-run changes no byte
    assert first.result["token_written_in"] == "/srv/stt-data on airflow-box"

    checked = step("gpu-preflight", "--data-root", str(tmp_path / "root"),
                   "--data-root-token=" + first.result["data_root_token"],
                   "--token-written-in=" + first.result["token_written_in"],
                   env={"STT_HOST_DATA_DIR": "/srv/stt-data", "STT_TASK_HOST": "gpu-box"})
    assert checked.returncode == 0, checked.stderr
    assert checked.result["checked_in"] == "/srv/stt-data on gpu-box"


def test_a_training_host_with_another_data_root_fails_naming_both(tmp_path, step):
    first = step("preflight", "--data-root", str(tmp_path / "root"),
                 env={"STT_HOST_DATA_DIR": "/srv/stt-data", "STT_TASK_HOST": "airflow-box", "PATH": NO_NVIDIA_PATH})
    (tmp_path / "elsewhere").mkdir()
    for other in ("elsewhere", None):
        if other is None:  # the same path, but another folder: it holds a token of its own
            (tmp_path / "elsewhere" / ".data-root-token.json").write_text('{"token": "0123"}')
        run = step("gpu-preflight", "--data-root", str(tmp_path / "elsewhere"),
                   "--data-root-token=" + first.result["data_root_token"],
                   "--token-written-in=" + first.result["token_written_in"],
                   env={"STT_HOST_DATA_DIR": "/data/stt", "STT_TASK_HOST": "gpu-box"})
        assert run.returncode == EXIT_BAD_INPUT
        message = run.stderr.strip().splitlines()[-1]
        assert "/data/stt on gpu-box" in message and "/srv/stt-data on airflow-box" in message, message
        assert ("holds another token" if other is None else "is missing") in message
        assert "Traceback" not in run.stderr
