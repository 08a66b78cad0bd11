"""The step operator's container plan, names, skips and result parsing; one test runs a container."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from stt_pipeline.pipeline_steps import after_stop
from stt_pipeline.step_operator import SttStepOperator, container_labels, container_name, parse_result, plan_container
from tests.image_runner import IMAGE, needs_image, writable_dir


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


class _FakeTaskInstance:
    """Stands in for the task instance in a template: returns an upstream task's result (None: skipped)."""

    def __init__(self, results):
        self.results = results

    def xcom_pull(self, task_ids):
        return self.results.get(task_ids)


#: What the upstream steps return (their JSON result lines), as far as later steps read them.
UPSTREAM_RESULTS = {
    "alphabet": {"alphabet": "/mnt/models/alphabet.txt"},
    "lm": {"scorer": "/mnt/lm/kenlm.scorer", "lm_binary": "/mnt/lm/lm.binary"},
    "export": {"model": "/mnt/models/output_graph.tflite", "zip": "/mnt/models/fr-fr.zip"},
}


def test_templated_command_renders_run_parameters(dagbag):
    from stt_tasks.parameters import PARAMETERS

    task = dagbag.dags["stt_fr_training"].get_task("train")
    params = {name: parameter.typed_default() for name, parameter in PARAMETERS.items()}
    params.update({"epochs": 3, "batch_size": 8, "amp": False})
    rendered = task.render_template(task.command, {"params": params, "ti": _FakeTaskInstance(UPSTREAM_RESULTS)})
    assert rendered[:5] == ["train", "--data-root", "/mnt", "--language", "fr"]
    assert "--epochs=3" in rendered and "--amp=False" in rendered  # one argument each


def test_lm_command_carries_texts_memory_and_download(dagbag):
    task = dagbag.dags["stt_fr_training"].get_task("lm")
    ti = _FakeTaskInstance({"alphabet": {"alphabet": "/mnt/models/alphabet.txt"}})
    from stt_tasks.parameters import PARAMETERS

    params = {name: parameter.typed_default() for name, parameter in PARAMETERS.items()}
    params.update({"lm_top_k": 1000, "lm_memory": "1G", "download": True})
    rendered = task.render_template(task.command, {"ti": ti, "params": params})
    assert "--memory=1G" in rendered and "--download" in rendered
    assert "--alphabet=/mnt/models/alphabet.txt" in rendered  # from the upstream XCom
    assert task.path_lists == (("--text", "lm_texts"),)  # appended at run time, one path per value


@pytest.mark.parametrize("task_id,inputs", [
    ("train", ["--alphabet=/mnt/models/alphabet.txt"]),
    ("optimize_lm", ["--alphabet=/mnt/models/alphabet.txt", "--scorer=/mnt/lm/kenlm.scorer"]),
    ("test", ["--alphabet=/mnt/models/alphabet.txt", "--scorer=/mnt/lm/kenlm.scorer"]),
    ("export", ["--alphabet=/mnt/models/alphabet.txt", "--scorer=/mnt/lm/kenlm.scorer"]),
    ("transcribe", ["--model=/mnt/models/output_graph.tflite", "--scorer=/mnt/lm/kenlm.scorer"]),
    ("package", ["--model=/mnt/models/output_graph.tflite", "--alphabet=/mnt/models/alphabet.txt",
                 "--scorer=/mnt/lm/kenlm.scorer"]),
])
def test_steps_get_their_inputs_from_upstream_results(dagbag, task_id, inputs):
    dag = dagbag.dags["stt_fr_training"]
    task = dag.get_task(task_id)
    rendered = task.render_template(task.command, {"params": dag.params.dump(), "ti": _FakeTaskInstance(UPSTREAM_RESULTS)})
    assert [argument for argument in rendered if argument.startswith(("--alphabet", "--scorer", "--model"))] == inputs


def test_a_step_whose_upstream_left_no_result_renders_the_defaults(dagbag):
    """stop_after skips a task in execute, after its command rendered: a skipped upstream has no result then."""
    from stt_tasks.cli import build_parser

    dag = dagbag.dags["stt_fr_training"]
    params = dag.params.dump()  # lm_evaluate_range empty: "--lm-evaluate-range=" must still parse
    for task in dag.tasks:
        if task.task_id == "record_release" or task.task_id.startswith("importers."):
            continue
        rendered = task.render_template(task.command, {"params": params, "ti": _FakeTaskInstance({})})
        # as the operator runs it: empty arguments dropped; the CLI reads "--alphabet=" as "the default"
        args = build_parser().parse_args([argument for argument in rendered if argument != ""])
        for name in getattr(args, "inputs", []):
            assert getattr(args, name) == "", (task.task_id, name)
    test = dag.get_task("test")
    assert test.trigger_rule == "none_failed"  # runs (and skips itself) after a skipped optimize_lm
    assert "stops after" in test._skip_reason({"stop_after": "alphabet"})


def test_steps_that_download_get_a_network_only_when_the_run_downloads(dagbag):
    dag = dagbag.dags["stt_fr_training"]
    lm, mls, cv, alphabet = (dag.get_task(t) for t in ("lm", "importers.mls", "importers.common_voice", "alphabet"))
    assert lm.run_kind({"download": True}) == "download"  # `lm --download` fetches the LM corpora
    assert lm.run_kind({"download": False}) == "cpu"
    assert mls.run_kind({"download": True}) == "download"
    assert cv.run_kind({"download": True}) == "cpu"  # Common Voice is placed by hand
    assert alphabet.run_kind({"download": True}) == "cpu"


def test_retry_delay_override(monkeypatch):
    from datetime import timedelta

    from stt_pipeline.pipeline_steps import KINDS

    monkeypatch.delenv("STT_RETRY_DELAY_SECONDS", raising=False)
    own = SttStepOperator(task_id="train", step_arguments=["train"], kind="training")
    assert own.retry_delay == KINDS["training"].retry_delay and own.max_retry_delay == KINDS["training"].max_retry_delay
    monkeypatch.setenv("STT_RETRY_DELAY_SECONDS", "0")
    immediate = SttStepOperator(task_id="train", step_arguments=["train"], kind="training")
    assert immediate.retry_delay == timedelta(0)


def test_auto_remove_setting(monkeypatch):
    from stt_pipeline import deployment

    monkeypatch.delenv("STT_AUTO_REMOVE", raising=False)
    assert deployment.auto_remove() == "success"
    monkeypatch.setenv("STT_AUTO_REMOVE", "Never")
    assert deployment.auto_remove() == "never"
    monkeypatch.setenv("STT_AUTO_REMOVE", "sometimes")
    with pytest.raises(ValueError, match="stt_auto_remove is 'sometimes'; use one of success, force, never"):
        deployment.auto_remove()


def test_container_labels_name_the_run_task_and_try():
    labels = container_labels("stt_fr_training", "lm", "manual__2026-11-24T08:17:28+00:00", 2)
    assert labels == {"stt.dag_id": "stt_fr_training", "stt.task_id": "lm",
                      "stt.run_id": "manual__2026-11-24T08:17:28+00:00", "stt.try_number": "2"}


# ---- with a real Docker engine (the CPU image), in this process: no Airflow run needed ----


class _RunningTaskInstance:
    dag_id = "stt_fr_training"
    task_id = "preflight"

    def __init__(self, run_id: str, try_number: int) -> None:
        self.run_id = run_id
        self.try_number = try_number


def _docker(*args: str) -> str:
    completed = subprocess.run(["docker"] + list(args), capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def _labelled(selector: str):
    return _docker("ps", "-a", "--filter", "label=" + selector, "--format", "{{.Names}}").split()


@needs_image
def test_a_retry_removes_the_container_an_earlier_try_left_running(deployment_env, monkeypatch, tmp_path):
    """Try 1's task process died, its container did not: try 2 stops it before starting its own."""
    monkeypatch.setenv("STT_DOCKER_URL", "unix://var/run/docker.sock")
    monkeypatch.setenv("STT_CPU_IMAGE", IMAGE)
    monkeypatch.setenv("STT_HOST_DATA_DIR", str(writable_dir(tmp_path / "data")))
    monkeypatch.setenv("STT_AUTO_REMOVE", "never")  # keep try 2's container, to inspect it
    run_id = "manual__test-{}".format(uuid.uuid4().hex[:8])
    other_run = run_id + "-other"
    try:
        for run in (run_id, other_run):  # the same task's try 1 in this run, and in another run
            labels = container_labels("stt_fr_training", "preflight", run, 1)
            label_args = [a for k, v in labels.items() for a in ("--label", "{}={}".format(k, v))]
            _docker("run", "-d", "--network", "none", *label_args, "--entrypoint", "sleep", IMAGE, "300")
        operator = SttStepOperator(task_id="preflight", step_arguments=["params"], kind="cpu")
        result = operator.execute({"params": {"stop_after": ""}, "ti": _RunningTaskInstance(run_id, 2)})
        assert "parameters" in result
        assert _labelled("stt.run_id=" + run_id) == [container_name("stt_fr_training", "preflight", run_id, 2)]
        assert len(_labelled("stt.run_id=" + other_run)) == 1  # another run's container is not ours to stop
        kept = _labelled("stt.run_id=" + run_id)[0]
        assert _docker("inspect", "--format", "{{.HostConfig.NetworkMode}} {{.Config.User}}", kept) == "none 999:999"
        assert "docker.sock" not in _docker("inspect", "--format", "{{json .Mounts}}", kept)
    finally:
        for run in (run_id, other_run):
            for name in _labelled("stt.run_id=" + run):
                _docker("rm", "-f", name)
