"""The step operator's container plan, names, skips and result parsing; one test runs a container."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from stt_pipeline.step_operator import (SttStepOperator, _status_code, container_labels, container_name, exit_failure,
                                        parse_result, plan_container, read_only_binds)
from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_SETUP, EXIT_TEMPFAIL
from stt_tasks.steps import find
from tests.image_runner import IMAGE, needs_image, writable_dir


@pytest.fixture
def deployment_env(monkeypatch, tmp_path):
    for name in ("STT_CPU_IMAGE", "STT_GPU_ENABLED", "STT_DOWNLOAD_NETWORK", "STT_SHM_SIZE", "STT_DOCKER_TLS_CA_CERT",
                 "STT_DOCKER_TLS_CLIENT_CERT", "STT_DOCKER_TLS_CLIENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STT_HOST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STT_DOCKER_URL", "unix:///run/stt-docker-proxy/docker.sock")
    monkeypatch.setenv("STT_TRANSFER_ROOTS", "/srv/checkpoints:/srv")
    monkeypatch.setenv("STT_GPU_DOCKER_URL", "ssh://gpu-box")
    monkeypatch.setenv("STT_GPU_IMAGE", "stt-tasks-gpu:test")
    return tmp_path


def test_cpu_step(deployment_env):
    plan = plan_container("cpu")
    assert plan.image == "stt-tasks-cpu" and plan.network_mode == "none"
    assert plan.docker_url == "unix:///run/stt-docker-proxy/docker.sock" and plan.tls is None
    assert [(m["Target"], m["Source"], m["Type"], m.get("ReadOnly", False)) for m in plan.mounts] == [
        ("/mnt", str(deployment_env), "bind", False)
    ]
    assert plan.device_requests is None and plan.ulimits == []


def test_training_without_gpu(deployment_env, monkeypatch):
    monkeypatch.setenv("STT_GPU_ENABLED", "false")
    plan = plan_container("training", [("/srv/en-checkpoint", "/transfer-checkpoint")])
    assert plan.image == "stt-tasks-cpu" and plan.device_requests is None and plan.ulimits == []
    assert plan.shm_size == "8g"
    transfer = plan.mounts[1]
    assert (transfer["Target"], transfer["Source"], transfer["ReadOnly"]) == ("/transfer-checkpoint", "/srv/en-checkpoint", True)


def test_only_the_mounted_parameters_of_the_step_are_bound(dagbag):
    tasks = dagbag.dags["stt_fr_training"]
    params = {"transfer_checkpoint": "/srv/en-checkpoint"}
    assert read_only_binds(tasks.get_task("train").step, params) == [("/srv/en-checkpoint", "/transfer-checkpoint")]
    assert read_only_binds(tasks.get_task("train").step, {"transfer_checkpoint": None}) == []
    assert read_only_binds(tasks.get_task("export").step, params) == []  # not a parameter of export


def test_training_with_gpu(deployment_env, monkeypatch):
    monkeypatch.setenv("STT_GPU_ENABLED", "1")
    plan = plan_container("training")
    assert plan.image == "stt-tasks-gpu:test" and plan.docker_url == "ssh://gpu-box"
    assert plan.device_requests[0]["Capabilities"] == [["gpu"]] and plan.device_requests[0]["Count"] == -1
    assert {u["Name"] for u in plan.ulimits} == {"memlock", "stack"}
    assert len(plan.mounts) == 1


@pytest.mark.parametrize("gpus,count,device_ids", [("all", -1, []), ("2", 2, []), ("0,2", 0, ["0", "2"])])
def test_the_gpus_parameter_becomes_the_device_request(deployment_env, monkeypatch, gpus, count, device_ids):
    monkeypatch.setenv("STT_GPU_ENABLED", "true")
    request, = plan_container("training", gpus=gpus).device_requests
    assert (request["Count"], request.get("DeviceIDs"), request["Capabilities"]) == (count, device_ids, [["gpu"]])


@pytest.mark.parametrize("gpus", ["2", "0,2"])
def test_gpus_are_refused_where_gpus_are_not_enabled(deployment_env, monkeypatch, gpus):
    monkeypatch.setenv("STT_GPU_ENABLED", "false")
    with pytest.raises(AirflowFailException, match="gpus={} .*STT_GPU_ENABLED".format(gpus)):
        plan_container("training", gpus=gpus)
    assert plan_container("training", gpus="all").device_requests is None  # the default: the CPU image, no request


def test_train_optimize_and_test_take_the_gpus_parameter(dagbag):
    dag = dagbag.dags["stt_fr_training"]
    taking = {task.task_id for task in dag.tasks if "gpus" in getattr(getattr(task, "step", None), "parameters", ())}
    assert taking == {"train", "optimize_lm", "test", "report"}  # the report shows every run parameter
    assert dag.params["gpus"] == "all"


def test_a_transfer_checkpoint_must_be_under_the_transfer_roots(deployment_env, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    for outside in ("/etc", "/srv/../etc", "/srvx/en", "srv/en"):
        with pytest.raises(AirflowFailException, match="is not under STT_TRANSFER_ROOTS"):
            plan_container("training", [(outside, "/transfer-checkpoint")])
    monkeypatch.delenv("STT_TRANSFER_ROOTS")
    with pytest.raises(AirflowFailException, match=r"STT_TRANSFER_ROOTS \(empty\)"):
        plan_container("training", [("/srv/en", "/transfer-checkpoint")])


def test_a_gpu_engine_over_tcp_needs_tls_client_certificates(deployment_env, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("STT_GPU_ENABLED", "true")
    monkeypatch.setenv("STT_GPU_DOCKER_URL", "tcp://gpu-box:2375")
    with pytest.raises(AirflowFailException, match="STT_GPU_DOCKER_URL is tcp://gpu-box:2375, a Docker API over the "
                                                   "network without TLS: set STT_DOCKER_TLS_CA_CERT"):
        plan_container("training")
    assert plan_container("cpu").tls is None  # CPU steps go to the local proxy
    certs = {"STT_DOCKER_TLS_CA_CERT": "/certs/ca.pem", "STT_DOCKER_TLS_CLIENT_CERT": "/certs/cert.pem",
             "STT_DOCKER_TLS_CLIENT_KEY": "/certs/key.pem"}
    for name, value in certs.items():
        monkeypatch.setenv(name, value)
    plan = plan_container("training")
    assert plan.docker_url == "tcp://gpu-box:2375"
    assert plan.tls == ("/certs/ca.pem", "/certs/cert.pem", "/certs/key.pem")


def test_download_steps_get_a_network(deployment_env):
    assert plan_container("download").network_mode == "bridge"


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


class _FakeTaskInstance:
    """Stands in for the task instance: returns an upstream task's result by task id (None: skipped)."""

    def __init__(self, results):
        self.results = results

    def xcom_pull(self, task_ids):
        return self.results.get(task_ids)


def test_a_skipped_step_never_reaches_docker(dagbag):
    from airflow.sdk.exceptions import AirflowSkipException

    dag = dagbag.dags["stt_fr_training"]
    cases = [("importers.mls", {"corpora": ["common-voice"]}, "not in this run's corpora"),
             ("optimize_lm", {"lm_evaluate_range": None}, "lm_evaluate_range"),
             ("optimize_lm", {"lm_evaluate_range": "5,5,60", "stop_after": "train"}, "stops after 'train'")]
    for task_id, conf, reason in cases:
        params = dict(dag.params.dump(), **conf)
        with pytest.raises(AirflowSkipException, match=reason):
            dag.get_task(task_id).execute({"params": params, "ti": _FakeTaskInstance({})})


#: What the upstream steps return (their JSON result lines), by task id.
UPSTREAM_RESULTS = {
    "alphabet": {"alphabet": "/mnt/models/alphabet.txt"},
    "lm": {"scorer": "/mnt/lm/kenlm.scorer", "lm_binary": "/mnt/lm/lm.binary"},
    "optimize_lm": None,  # skipped: no lm_evaluate_range
    "train": {"training": "/mnt/checkpoints/training.json"},
    "test": {"summary": "/mnt/models/test_summary.json", "test_output": "/mnt/models/test_output.json"},
    "export": {"model": "/mnt/models/output_graph.tflite", "zip": "/mnt/models/fr-fr.zip"},
    "package": {"model_archive": "/mnt/model_tflite_fr.tar.xz", "checkpoint_archive": "/mnt/checkpoint_fr.tar.xz",
                "model_zip": "/mnt/fr-fr.zip", "model_card": "/mnt/model_card_fr.md"},
}


class _RunningInstance(_FakeTaskInstance):
    def __init__(self, results, run_id):
        super().__init__(results)
        self.run_id = run_id


class _DagRun:
    def __init__(self, start_date):
        self.start_date = start_date


def test_a_step_that_takes_the_run_context_gets_it_from_the_airflow_run(dagbag):
    """The report goes to reports/runs/<run id>/: its command carries the run's id and start (the operator
    tests no task id: the step's table entry says it takes them)."""
    from datetime import datetime, timezone

    from stt_tasks.cli import build_parser

    dag = dagbag.dags["stt_fr_training"]
    run_id = "manual__2026-12-01T09:00:00+00:00"
    started = datetime(2026, 12, 1, 9, 0, 5, tzinfo=timezone.utc)
    ti = _RunningInstance(UPSTREAM_RESULTS, run_id)
    report = dag.get_task("report").command_for(dag.params.dump(), ti, _DagRun(started))
    assert "--run-id=" + run_id in report and "--run-started=2026-12-01T09:00:05+00:00" in report
    args = build_parser().parse_args(report)
    assert args.run_id == run_id and args.run_started == "2026-12-01T09:00:05+00:00"
    kept = dag.get_task("keep_model").command_for(dag.params.dump(), ti, _DagRun(started))
    assert "--run-id=" + run_id in kept and not any(a.startswith("--run-started") for a in kept)
    others = [t for t in dag.tasks if getattr(t, "step", None) is not None and t.task_id not in ("report", "keep_model")]
    assert others and not any(a.startswith("--run-id") for t in others
                              for a in t.command_for(dag.params.dump(), ti, _DagRun(started)))


def test_the_command_carries_the_run_parameters(dagbag):
    dag = dagbag.dags["stt_fr_training"]
    task = dag.get_task("train")
    params = dict(dag.params.dump(), epochs=3, batch_size=8, amp=False, transfer_checkpoint="/srv/en")
    rendered = task.command_for(params, _FakeTaskInstance(UPSTREAM_RESULTS))
    assert rendered[:5] == ["train", "--data-root", "/mnt", "--language", "fr"]
    assert "--epochs=3" in rendered and "--amp=0" in rendered  # one argument each
    assert "--transfer-checkpoint=/transfer-checkpoint" in rendered  # the container's path of the mount


def test_lm_command_carries_texts_memory_and_download(dagbag):
    dag = dagbag.dags["stt_fr_training"]
    params = dict(dag.params.dump(), lm_top_k=1000, lm_memory="1G", download=True,
                  lm_texts=["sources/a.txt.xz", "sources/b.txt"])
    rendered = dag.get_task("lm").command_for(params, _FakeTaskInstance(UPSTREAM_RESULTS))
    assert "--memory=1G" in rendered and "--download=1" in rendered and "--lm-top-k=1000" in rendered
    assert rendered[rendered.index("--text"):][:3] == ["--text", "sources/a.txt.xz", "sources/b.txt"]
    assert "--alphabet=/mnt/models/alphabet.txt" in rendered  # from the upstream XCom


@pytest.mark.parametrize("task_id,inputs", [
    ("train", ["--alphabet=/mnt/models/alphabet.txt"]),
    ("optimize_lm", ["--alphabet=/mnt/models/alphabet.txt", "--scorer=/mnt/lm/kenlm.scorer"]),
    ("test", ["--alphabet=/mnt/models/alphabet.txt", "--scorer=/mnt/lm/kenlm.scorer"]),
    ("export", ["--alphabet=/mnt/models/alphabet.txt", "--scorer=/mnt/lm/kenlm.scorer"]),
    ("transcribe", ["--model=/mnt/models/output_graph.tflite", "--scorer=/mnt/lm/kenlm.scorer",
                    "--test-summary=/mnt/models/test_summary.json"]),
    ("package", ["--model=/mnt/models/output_graph.tflite", "--alphabet=/mnt/models/alphabet.txt",
                 "--scorer=/mnt/lm/kenlm.scorer", "--model-zip=/mnt/models/fr-fr.zip",
                 "--test-summary=/mnt/models/test_summary.json", "--training=/mnt/checkpoints/training.json",
                 "--tuning="]),
    ("report", ["--test-summary=/mnt/models/test_summary.json", "--test-output=/mnt/models/test_output.json",
                "--training=/mnt/checkpoints/training.json", "--tuning=", "--tuning-study=",
                "--model-card=/mnt/model_card_fr.md", "--model-archive=/mnt/model_tflite_fr.tar.xz",
                "--checkpoint-archive=/mnt/checkpoint_fr.tar.xz", "--package-zip=/mnt/fr-fr.zip"]),
])
def test_steps_get_their_inputs_from_upstream_results(dagbag, task_id, inputs):
    dag = dagbag.dags["stt_fr_training"]
    task = dag.get_task(task_id)
    rendered = task.command_for(dag.params.dump(), _FakeTaskInstance(UPSTREAM_RESULTS))
    names = tuple(i.option + "=" for i in task.step.inputs)
    assert [argument for argument in rendered if argument.startswith(names)] == inputs


def test_a_step_whose_upstream_left_no_result_goes_without(dagbag, tmp_path):
    """Every task's command parses with the CLI; an input nobody produced is given empty: none."""
    from stt_tasks.cli import build_parser, chosen_step, resolve_inputs
    from stt_tasks.layout import DataRoot

    dag = dagbag.dags["stt_fr_training"]
    root = DataRoot(tmp_path)
    for task in dag.tasks:
        if task.task_id == "record_release":
            continue
        args = build_parser().parse_args(task.command_for(dag.params.dump(), _FakeTaskInstance({})))
        assert chosen_step(args).task_id == task.step.task_id
        assert set(resolve_inputs(task.step, args, root).values()) <= {None}, task.task_id
    assert dag.get_task("test").trigger_rule == "none_failed"  # runs after a skipped optimize_lm


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
    own = SttStepOperator(step=find("train"), language="fr")
    assert own.retry_delay == KINDS["training"].retry_delay and own.max_retry_delay == KINDS["training"].max_retry_delay
    monkeypatch.setenv("STT_RETRY_DELAY_SECONDS", "0")
    immediate = SttStepOperator(step=find("train"), language="fr")
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
        operator = SttStepOperator(step=find("params"), language="fr", task_id="preflight")
        result = operator.execute({"params": {"stop_after": None}, "ti": _RunningTaskInstance(run_id, 2)})
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


@needs_image
def test_a_missing_image_fails_at_once_naming_what_to_build(deployment_env, monkeypatch, tmp_path):
    """A GPU host without the step's image: one message, no pull (the proxy would refuse it), no retry."""
    monkeypatch.setenv("STT_DOCKER_URL", "unix://var/run/docker.sock")
    monkeypatch.setenv("STT_CPU_IMAGE", "stt-tasks-no-such-image-" + uuid.uuid4().hex[:8])
    monkeypatch.setenv("STT_HOST_DATA_DIR", str(writable_dir(tmp_path / "data")))
    run_id = "manual__test-{}".format(uuid.uuid4().hex[:8])
    operator = SttStepOperator(step=find("params"), language="fr", task_id="preflight")
    with pytest.raises(AirflowFailException) as failed:
        operator.execute({"params": {"stop_after": None}, "ti": _RunningTaskInstance(run_id, 1)})
    message = str(failed.value)
    assert "is not on the Docker engine of" in message and "make image" in message and "STT_CPU_IMAGE" in message
    assert _labelled("stt.run_id=" + run_id) == []  # nothing was created


@pytest.mark.parametrize("status, fails_at_once, words", [
    (EXIT_BAD_INPUT, True, "refused its input"),
    (EXIT_SETUP, True, "permissions or a missing tool"),
    (EXIT_TEMPFAIL, False, "file system is full"),
])
def test_exit_status_decides_between_failing_at_once_and_retrying(status, fails_at_once, words):
    # The provider's own exception, worded as DockerOperator raises it when the container exits non-zero.
    raised = DockerContainerFailedException("Docker container failed: {!r}".format({"StatusCode": status,
                                                                                    "Error": None}), logs=[])
    failure = exit_failure(_status_code(raised), "importers.common_voice")
    assert failure is not None and words in str(failure) and "exit {}".format(status) in str(failure)
    # AirflowFailException ends the task without retries; any other AirflowException is retried after the delay.
    assert isinstance(failure, AirflowFailException) is fails_at_once
    assert isinstance(failure, AirflowException)


def test_other_exit_statuses_are_plain_failures_retried_as_they_are():
    assert exit_failure(1, "train") is None and exit_failure(None, "train") is None


def test_gpu_preflight_gets_the_token_from_the_preflight_result(dagbag):
    """The check on the training host compares its data root with what preflight on the Airflow host found."""
    task = dagbag.dags["stt_fr_training"].get_task("gpu_preflight")

    class TaskInstance:
        run_id = "manual__1"

        @staticmethod
        def xcom_pull(task_ids):
            assert task_ids == "preflight"
            return {"data_root_token": "0f3a", "token_written_in": "/srv/stt-data on airflow-box", "gpus": []}

    argv = task.command_for({}, TaskInstance())
    assert argv[:1] == ["gpu-preflight"]
    assert "--data-root-token=0f3a" in argv and "--token-written-in=/srv/stt-data on airflow-box" in argv
