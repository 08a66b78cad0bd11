"""The step operator's container plan, names, skips and result parsing (no container started)."""

from __future__ import annotations

import pytest

from stt_pipeline.pipeline_steps import after_stop
from stt_pipeline.step_operator import SttStepOperator, container_name, parse_result, plan_container


@pytest.fixture
def deployment_env(monkeypatch, tmp_path):
    for name in ("STT_CPU_IMAGE", "STT_GPU_ENABLED", "STT_DOWNLOAD_NETWORK", "STT_SHM_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STT_HOST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STT_DOCKER_URL", "tcp://docker-proxy:2375")
    monkeypatch.setenv("STT_GPU_DOCKER_URL", "ssh://gpu-box")
    monkeypatch.setenv("STT_GPU_IMAGE", "stt-tasks-gpu:test")
    return tmp_path


def test_cpu_step(deployment_env):
    plan = plan_container("cpu", transfer_checkpoint="/ignored/for/cpu")
    assert plan.image == "stt-tasks-cpu" and plan.network_mode == "none"
    assert plan.docker_url == "tcp://docker-proxy:2375"
    assert [(m["Target"], m["Source"], m["Type"], m.get("ReadOnly", False)) for m in plan.mounts] == [
        ("/mnt", str(deployment_env), "bind", False)
    ]
    assert plan.device_requests is None and plan.ulimits == []


def test_training_without_gpu(deployment_env, monkeypatch):
    monkeypatch.setenv("STT_GPU_ENABLED", "false")
    plan = plan_container("training", transfer_checkpoint="/srv/en-checkpoint")
    assert plan.image == "stt-tasks-cpu" and plan.device_requests is None and plan.ulimits == []
    assert plan.shm_size == "8g"
    transfer = plan.mounts[1]
    assert (transfer["Target"], transfer["Source"], transfer["ReadOnly"]) == ("/transfer-checkpoint", "/srv/en-checkpoint", True)


def test_training_with_gpu(deployment_env, monkeypatch):
    monkeypatch.setenv("STT_GPU_ENABLED", "1")
    plan = plan_container("training", transfer_checkpoint=None)
    assert plan.image == "stt-tasks-gpu:test" and plan.docker_url == "ssh://gpu-box"
    assert plan.device_requests[0]["Capabilities"] == [["gpu"]] and plan.device_requests[0]["Count"] == -1
    assert {u["Name"] for u in plan.ulimits} == {"memlock", "stack"}
    assert len(plan.mounts) == 1


def test_download_steps_get_a_network(deployment_env):
    assert plan_container("download", None).network_mode == "bridge"


def test_container_names_are_docker_safe_and_unique_per_try():
    run = "manual__2026-11-24T08:17:28.779476+00:00"
    first = container_name("stt_fr_training", "importers.common_voice", run, 1)
    second = container_name("stt_fr_training", "importers.common_voice", run, 2)
    other_run = container_name("stt_fr_training", "importers.common_voice", run.replace("08", "09"), 1)
    assert len({first, second, other_run}) == 3
    import re

    assert all(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", n) for n in (first, second, other_run))


def test_result_parsing():
    assert parse_result('{"alphabet": "/mnt/models/alphabet.txt"}', "alphabet") == {"alphabet": "/mnt/models/alphabet.txt"}
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match="without a JSON result line"):
        parse_result("Traceback (most recent call last):", "train")
    with pytest.raises(AirflowException, match="without a JSON result line"):
        parse_result("[1, 2]", "train")
    # a log line that overtook the result on its way through Docker does not hide it
    lines = ["progress 50%", '{"scorer": "/mnt/lm/kenlm.scorer"}', "", "  [inherited] cv-fr/train vs cv-fr/dev"]
    assert parse_result(lines, "lm") == {"scorer": "/mnt/lm/kenlm.scorer"}
    with pytest.raises(AirflowException):
        parse_result(None, "train")


def test_stop_after_stages():
    assert not after_stop("importers.mls", "import")
    assert after_stop("alphabet", "import")
    assert not after_stop("alphabet", "alphabet") and after_stop("lm", "alphabet")
    assert not after_stop("report", "")


def test_skip_reasons():
    operator = SttStepOperator(task_id="importers.mls", step_arguments=["import", "mls"], kind="cpu", corpus="mls")
    assert "not in this run's corpora" in operator._skip_reason({"corpora": ["common-voice"], "stop_after": ""})
    assert operator._skip_reason({"corpora": ["mls"], "stop_after": ""}) is None
    tuning = SttStepOperator(task_id="optimize_lm", step_arguments=["optimize-lm"], kind="training")
    assert "lm_evaluate_range" in tuning._skip_reason({"lm_evaluate_range": "", "stop_after": ""})
    assert tuning._skip_reason({"lm_evaluate_range": "5,5,60", "stop_after": ""}) is None
    assert "stops after" in tuning._skip_reason({"lm_evaluate_range": "5,5,60", "stop_after": "train"})


def test_templated_command_renders_run_parameters(dagbag):
    task = dagbag.dags["stt_fr_training"].get_task("train")
    rendered = task.render_template(task.command, {"params": {"epochs": 3, "batch_size": 8, "learning_rate": 0.001,
                                                              "dropout": 0.1, "n_hidden": 64, "amp": False,
                                                              "early_stop": True, "train_cudnn": "auto"}})
    assert rendered[:5] == ["train", "--data-root", "/mnt", "--language", "fr"]
    assert rendered[rendered.index("--epochs") + 1] == "3" and rendered[rendered.index("--amp") + 1] == "False"


class _FakeTaskInstance:
    """Stands in for the task instance in a template: returns an upstream task's result."""

    def __init__(self, results):
        self.results = results

    def xcom_pull(self, task_ids):
        return self.results[task_ids]


def test_lm_command_carries_texts_memory_and_download(dagbag):
    task = dagbag.dags["stt_fr_training"].get_task("lm")
    ti = _FakeTaskInstance({"alphabet": {"alphabet": "/mnt/models/alphabet.txt"}})
    rendered = task.render_template(task.command, {"ti": ti, "params": {"lm_top_k": 1000, "english_compatible": False,
                                                              "lm_alpha": 0.5, "lm_beta": 1.0, "lm_memory": "1G",
                                                              "download": True}})
    assert rendered[rendered.index("--memory") + 1] == "1G" and "--download" in rendered
    assert rendered[rendered.index("--alphabet") + 1] == "/mnt/models/alphabet.txt"  # from the upstream XCom
    assert task.path_lists == (("--text", "lm_texts"),)  # appended at run time, one path per value
