"""Preflight: tree created and writable, disk estimate, GPU report."""

from __future__ import annotations

from stt_tasks.errors import EXIT_BAD_INPUT


def test_creates_the_tree(tmp_path, step):
    run = step("preflight", "--data-root", str(tmp_path / "root"))
    assert run.returncode == 0, run.stderr
    for name in ("sources", "extracted", "data", "lm", "models", "checkpoints", "tmp", "reports"):
        assert (tmp_path / "root").joinpath(run.result["directories"][name]).is_dir()
    assert run.result["gpus"] == [] or all("GPU" in g for g in run.result["gpus"])
    assert run.result["free_bytes"] > run.result["needed_bytes"]


def test_data_root_from_environment(tmp_path, step):
    run = step("preflight", env={"STT_DATA_ROOT": str(tmp_path / "env-root")})
    assert run.returncode == 0 and run.result["data_root"] == str(tmp_path / "env-root")


def test_blocked_directory_names_the_path(tmp_path, step):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "models").write_text("a file where a folder should be")
    run = step("preflight", "--data-root", str(tmp_path / "root"))
    assert run.returncode == EXIT_BAD_INPUT
    assert str(tmp_path / "root") in run.stderr


def test_not_enough_disk(tmp_path, step):
    run = step("preflight", "--data-root", str(tmp_path), "--expected-hours", "100000000")
    assert run.returncode == EXIT_BAD_INPUT and "GB free" in run.stderr


def test_require_gpu_without_gpu(tmp_path, step):
    run = step("preflight", "--data-root", str(tmp_path), "--require-gpu", env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == EXIT_BAD_INPUT and "NVIDIA runtime" in run.stderr
