"""The docker-compose stack for real: up, a run through the REST API, reliability, the Docker API
proxy's allow-list, the task containers' settings, down.

Uses the host-network override (this machine's Docker has no bridge network), a project name of its
own and free ports of its own, so it never touches a demo stack or a service of the host. Task
containers are kept (``STT_AUTO_REMOVE=never``) so that the tests can inspect them; the fixture
removes them at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
CPU_IMAGE = os.environ.get("STT_CPU_IMAGE", "stt-tasks-cpu")
PROXY_IMAGE = os.environ.get("DOCKER_PROXY_IMAGE", "stt-docker-proxy")
#: The compose project: another name keeps two test stacks on one machine apart.
PROJECT = os.environ.get("STT_TEST_PROJECT", "stttest")
IMAGES = ["stt-airflow", PROXY_IMAGE, CPU_IMAGE, os.environ.get("POSTGRES_IMAGE", "local/postgres-ci")]


def _images_present() -> bool:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        return False
    return all(subprocess.run(["docker", "image", "inspect", i], capture_output=True).returncode == 0 for i in IMAGES)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _images_present() and not os.environ.get("CI"), reason="needs make images-ci"),
]


def free_ports(count: int) -> List[int]:
    """Distinct ports nothing listens on now (the stack shares the host's network)."""
    ports: List[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in ports:
            ports.append(port)
    return ports


def sample_data_root(parent: Path) -> Path:
    """``parent/data``, writable by the steps' uid, with the sample corpus synthesised into its sources/."""
    data = parent / "data"
    data.mkdir()
    os.chmod(str(data), 0o777)
    subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", "{}:/mnt".format(data), CPU_IMAGE,
                    "sample-corpus", "--dest", "/mnt/sources"], check=True, capture_output=True)
    return data


class Stack:
    """A compose project of the main stack on free ports; ``settings`` add to or override its environment."""

    def __init__(self, data_dir: Path, project: str = PROJECT, **settings: str) -> None:
        self.project = project
        self.password = secrets.token_urlsafe(12)
        db_port, api_port = free_ports(2)
        self.api = "http://127.0.0.1:{}".format(api_port)
        self.data_dir = data_dir
        self.env = dict(
            os.environ,
            STT_DATA_DIR=str(data_dir),
            POSTGRES_PASSWORD=secrets.token_urlsafe(12),
            AIRFLOW_JWT_SECRET=secrets.token_urlsafe(64),  # HS512: PyJWT warns below 64 bytes
            AIRFLOW_ADMIN_PASSWORD=self.password,
            POSTGRES_IMAGE=IMAGES[-1],
            DOCKER_PROXY_IMAGE=PROXY_IMAGE,
            STT_CPU_IMAGE=CPU_IMAGE,
            STT_RETRY_DELAY_SECONDS="0",
            STT_AUTO_REMOVE="never",
            # the release watcher stays paused: it would schedule a training run on the sample release
            STT_DAGS_PAUSED_AT_CREATION="True",
            AIRFLOW_TASK_HEARTBEAT_TIMEOUT="45",
            STT_DB_HOST="127.0.0.1",
            STT_API_HOST="127.0.0.1",
            STT_DB_PORT=str(db_port),
            STT_API_PORT=str(api_port),
            STT_DB_LISTEN="127.0.0.1",
        )
        self.env.update(settings)
        self.compose = ["docker-compose", "-p", project, "-f", "docker-compose.yml", "-f", "docker-compose.host-network.yml"]
        self.token: Optional[str] = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(self.compose + list(args), env=self.env, cwd=str(REPO), capture_output=True, text=True,
                              check=check, timeout=600)

    def request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read().decode() or "null")

    def once_parsed(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, timeout: float = 180) -> Any:
        """``request`` about a DAG, repeated while the API answers 404 (the dag-processor has not parsed it yet)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.request(method, path, body)
            except urllib.error.HTTPError as error:
                assert error.code == 404 and time.monotonic() < deadline, error
                time.sleep(3)

    def wait_healthy(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = self.request("GET", "/api/v2/monitor/health")
                if health["scheduler"]["status"] == "healthy" and health["dag_processor"]["status"] == "healthy":
                    return
            except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
                pass
            time.sleep(2)
        raise AssertionError("stack not healthy:\n" + self.run("logs", "--tail", "50", check=False).stdout[-5000:])

    def task_containers(self) -> List[Dict[str, Any]]:
        """``docker inspect`` of the training DAG's containers that mounted this stack's data root."""
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=stt.dag_id=stt_fr_training"],
                             capture_output=True, text=True, check=True).stdout.split()
        if not ids:
            return []
        inspected = json.loads(subprocess.run(["docker", "inspect"] + ids, capture_output=True, text=True,
                                              check=True).stdout)
        return [c for c in inspected
                if any(m.get("Source") == str(self.data_dir) for m in c.get("Mounts") or [])]


def test_admin_admin_is_refused(stack):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(
            stack.api + "/auth/token", data=json.dumps({"username": "admin", "password": "admin"}).encode(),
            method="POST", headers={"Content-Type": "application/json"}), timeout=30)
    assert refused.value.code in (401, 403)


def test_invalid_parameter_is_refused_at_trigger_time(stack):
    with pytest.raises(urllib.error.HTTPError) as refused:
        stack.request("POST", "/api/v2/dags/stt_fr_training/dagRuns", {"logical_date": None, "conf": {"epochs": 0}})
    message = refused.value.read().decode()
    assert refused.value.code == 400 and "epochs" in message


class RestartedRun(NamedTuple):
    run_id: str
    #: the run's final state
    state: str
    #: {task id: (state, try number)} read through the REST API just before the scheduler restarted
    at_restart: Dict[str, Tuple[Optional[str], int]]
    #: the same once the run ended
    at_end: Dict[str, Tuple[Optional[str], int]]


def task_states(stack: Stack, run_id: str) -> Dict[str, Tuple[Optional[str], int]]:
    """{task id: (state, try number)} of the training DAG's run ``run_id``, as the REST API reports them."""
    listed = stack.request("GET", "/api/v2/dags/stt_fr_training/dagRuns/{}/taskInstances".format(run_id))
    return {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in listed["task_instances"]}


def wait_until_running(
    stack: Stack, run_id: str, task_id: str, timeout: float = 300
) -> Dict[str, Tuple[Optional[str], int]]:
    """The run's task states as soon as ``task_id`` is running (the last ones seen, at the timeout)."""
    deadline = time.monotonic() + timeout
    states = task_states(stack, run_id)
    while states.get(task_id, (None, 0))[0] != "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        states = task_states(stack, run_id)
    return states


@pytest.fixture(scope="module")
def restarted_run(stack) -> RestartedRun:
    """A data-preparation run during whose import the scheduler restarts."""
    conf = {"corpora": ["common-voice"], "stop_after": "alphabet"}
    run = stack.request("POST", "/api/v2/dags/stt_fr_training/dagRuns", {"logical_date": None, "conf": conf})
    run_id = run["dag_run_id"]
    # the import is the run's longest task: the restart falls inside it, not between two quick ones
    at_restart = wait_until_running(stack, run_id, "importers.common_voice")
    stack.run("restart", "scheduler")
    state = run["state"]
    deadline = time.monotonic() + 900
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(5)
        state = stack.request("GET", "/api/v2/dags/stt_fr_training/dagRuns/{}".format(run_id))["state"]
    return RestartedRun(run_id, state, at_restart, task_states(stack, run_id))


def test_run_survives_a_scheduler_restart_and_reports_the_corrupt_clip(stack, restarted_run):
    running = [task for task, (state, _) in restarted_run.at_restart.items() if state == "running"]
    print("\nrunning at the restart: {}; at the end: {}".format(
        running, {task: restarted_run.at_end[task] for task in running}))
    # a restart between tasks, or after the run, would prove nothing about surviving one
    assert "importers.common_voice" in running, "the import was not running at the restart: {}".format(
        restarted_run.at_restart)
    assert restarted_run.state == "success", stack.run("logs", "--tail", "80", "scheduler", check=False).stdout[-5000:]
    # the import the restart fell inside ended well (on its first try, or on a retry); the unselected
    # importers running beside it skipped themselves (exit 99)
    assert restarted_run.at_end["importers.common_voice"][0] == "success", restarted_run.at_end
    assert all(restarted_run.at_end[task][0] in ("success", "skipped") for task in running), restarted_run.at_end
    report = json.loads((stack.data / "extracted" / "data" / "cv-fr" / "cv-fr_report.json").read_text())
    assert report["dropped"].get("undecodable") == 1  # the sample corpus's corrupt mp3: reported, not fatal
    assert (stack.data / "models" / "alphabet.txt").is_file()
    xcom = stack.request(
        "GET", "/api/v2/dags/stt_fr_training/dagRuns/{}/taskInstances/alphabet/xcomEntries/return_value".format(
            restarted_run.run_id)
    )["value"]
    xcom = json.loads(xcom) if isinstance(xcom, str) else xcom
    assert xcom["alphabet"] == "/mnt/models/alphabet.txt"


def test_reports_view_is_served_by_the_api_server_to_logged_in_users(stack):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(stack.api + "/stt-reports/", timeout=30)
    assert refused.value.code == 401  # like /api/v2/dags: plugin apps get no authentication but their own
    request = urllib.request.Request(stack.api + "/stt-reports/", headers={"Authorization": "Bearer " + stack.token})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and "STT reports" in response.read().decode()


def test_task_containers_have_no_docker_socket(stack, restarted_run):
    # the browser tests' runs share the stack: only the restarted run's containers are this test's
    all_runs = {c["Config"]["Labels"]["stt.run_id"] for c in stack.task_containers()}
    assert restarted_run.run_id in all_runs, all_runs
    containers = [c for c in stack.task_containers() if c["Config"]["Labels"]["stt.run_id"] == restarted_run.run_id]
    tasks = sorted(c["Config"]["Labels"]["stt.task_id"] for c in containers)
    # kept (STT_AUTO_REMOVE=never): one per task that ran; an empty list would prove nothing
    assert {"preflight", "importers.common_voice", "alphabet"} <= set(tasks), tasks
    for container in containers:
        name = container["Name"]
        assert "docker.sock" not in json.dumps(container["Mounts"]) + json.dumps(container["HostConfig"]), name
        assert not container["HostConfig"].get("Privileged") and not container["HostConfig"].get("CapAdd"), name
        assert container["HostConfig"]["NetworkMode"] == "none" and container["Config"]["User"] == "999:999", name
    # a try whose task process died in the restart left its container; the next try removed it
    assert len(tasks) == len(set(tasks)), tasks


def proxy_socket(stack) -> str:
    """The proxy's unix socket on the host: in the stack's docker-proxy-socket volume."""
    volume = json.loads(subprocess.run(["docker", "volume", "inspect", stack.project + "_docker-proxy-socket"],
                                       capture_output=True, text=True, check=True).stdout)[0]
    return os.path.join(volume["Mountpoint"], "docker.sock")


def test_docker_proxy_allows_only_the_operators_calls(stack):
    """The stack's proxy: healthy, on its socket only (0660, the Airflow user's group), the policy in force.

    tests/deploy/test_docker_policy.py attacks the policy in depth; this checks the stack's wiring.
    """
    import docker

    from tests.deploy.test_docker_policy import call

    proxy = stack.run("ps", "-q", "docker-proxy").stdout.strip()
    inspected = json.loads(subprocess.run(["docker", "inspect", proxy], capture_output=True, text=True,
                                          check=True).stdout)[0]
    assert inspected["State"]["Health"]["Status"] == "healthy"
    assert inspected["HostConfig"]["NetworkMode"] == "none" and not inspected["NetworkSettings"]["Ports"]
    path = proxy_socket(stack)
    mode = os.stat(path)
    assert oct(mode.st_mode & 0o777) == "0o660" and mode.st_gid == 0  # the Airflow image's user: uid 50000, gid 0
    via_socket = SimpleNamespace(socket=path)
    for method, path_ in [("GET", "/v1.41/info"), ("POST", "/v1.41/containers/stt-no-such-container/exec")]:
        status, message = call(via_socket, method, path_, b"{}" if method == "POST" else None)
        assert status == 403 and "stt docker-proxy" in message, (method, path_, message)
    root = {"Image": CPU_IMAGE, "User": "0", "Cmd": ["params"], "Labels": {"stt.test": "proxy"},
            "HostConfig": {"NetworkMode": "none", "Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/mnt"}]}}
    assert call(via_socket, "POST", "/v1.41/containers/create", root)[0] == 403
    # what the step operator does, with docker-py as the provider uses it
    client = docker.APIClient(base_url="unix://" + path)
    assert client.ping() and client.images(name=CPU_IMAGE)
    host_config = client.create_host_config(network_mode="none", mounts=[
        docker.types.Mount(target="/mnt", source=str(stack.data_dir), type="bind")])
    container = client.create_container(CPU_IMAGE, ["params"], user="999:999", host_config=host_config,
                                        labels={"stt.test": "proxy"})["Id"]
    try:
        stream = client.attach(container, stdout=True, stderr=True, stream=True)
        client.start(container)
        output = b"".join(stream).decode()
        assert client.wait(container)["StatusCode"] == 0 and '"parameters"' in output
        assert '"parameters"' in client.logs(container).decode()
        assert client.inspect_container(container)["State"]["Status"] == "exited"
        assert [c["Id"] for c in client.containers(all=True, filters={"label": ["stt.test=proxy"]})] == [container]
    finally:
        client.remove_container(container, force=True)
