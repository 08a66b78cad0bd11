"""Two workers for real: the stack with the Edge executor, and a "GPU host" running
docker-compose.gpu-worker.yml beside it (the CPU image: no GPU here), its own Docker API proxy in front
of the same engine.

One demo run goes through both. The training-kind tasks must run on the worker (its name, queue
``gpu``) and their containers be created through the worker's proxy, never the main stack's; the
others stay on the stack's LocalExecutor. The worker is killed (``docker kill``) in the middle of the
training and started again: the train task must be retried on it and resume from its last checkpoint
(no optimiser step twice). Then a worker with a wrong secret, an unreachable API server or a server
without the Edge API must stop with one line naming the setting.

Both compose projects have names of their own (``<STT_TEST_PROJECT>edge`` and ``...gpu``), so they run
beside the other stack tests' stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.deploy.test_browser import _browser_present
from tests.deploy.test_stack import (CPU_IMAGE, PROJECT, PROXY_IMAGE, REPO, Stack, free_ports, sample_data_root,
                                      task_states)
from tests.test_train_resume_image import history_length

pytestmark = pytest.mark.slow

WORKER_NAME = "stt-ci-gpu-worker"
GPU_TASKS = ["gpu_preflight", "train", "optimize_lm", "test"]
#: quick to notice a dead worker and a task without heartbeats (the defaults are 30 s and 300 s)
QUICK_HEARTBEATS = dict(STT_EDGE_HEARTBEAT_INTERVAL="5", AIRFLOW_TASK_HEARTBEAT_TIMEOUT="20")


def demo_module() -> Any:
    """scripts/demo.py: the demo's run parameters (the test runs what `make demo` runs) and its log reader."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import demo
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return demo


class Worker:
    """A GPU host's compose project (docker-compose.gpu-worker.yml on the host network, as on this machine)."""

    def __init__(self, project: str, **settings: str) -> None:
        self.project = project
        self.env = dict(os.environ, DOCKER_PROXY_IMAGE=PROXY_IMAGE, STT_CPU_IMAGE=CPU_IMAGE, STT_GPU_ENABLED="false",
                        STT_AUTO_REMOVE="never", STT_RETRY_DELAY_SECONDS="0", STT_WORKER_NAME=WORKER_NAME, **settings)
        self.compose = ["docker-compose", "-p", project, "-f", "docker-compose.gpu-worker.yml",
                        "-f", "docker-compose.gpu-worker.host-network.yml"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(self.compose + list(args), env=self.env, cwd=str(REPO), capture_output=True, text=True,
                              check=check, timeout=600)

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()

    def logs(self, service: str) -> str:
        done = subprocess.run(["docker", "logs", self.container(service)], capture_output=True, text=True)
        return done.stdout + done.stderr


def edge_stack_for(data: Path) -> Stack:
    """The stack with the Edge executor as `make demo DEMO_ARGS=--gpu-worker` sets it up."""
    return Stack(data, project=PROJECT + "edge", **dict(demo_module().EDGE_SETTINGS, **QUICK_HEARTBEATS))


def worker_for(stack: Stack, project: str, **settings: str) -> Worker:
    values = dict(STT_API_URL=stack.api, AIRFLOW_JWT_SECRET=stack.env["AIRFLOW_JWT_SECRET"],
                  STT_DATA_DIR=str(stack.data_dir),
                  STT_EDGE_HEARTBEAT_INTERVAL=QUICK_HEARTBEATS["STT_EDGE_HEARTBEAT_INTERVAL"])
    values.update(settings)
    return Worker(project, **values)


def task_log(stack: Stack, run_id: str, task_id: str, try_number: int) -> str:
    """The task log's messages, as the REST API serves them (pushed there by the Edge worker)."""
    return "\n".join(demo_module().task_log_events(stack.api, str(stack.token), run_id, task_id, try_number))


def task_instances(stack: Stack, run_id: str) -> Dict[str, dict]:
    listed = stack.request("GET", "/api/v2/dags/stt_fr_training/dagRuns/{}/taskInstances".format(run_id))
    return {ti["task_id"]: ti for ti in listed["task_instances"]}


def wait_for(condition, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """The two-worker deployment, and a demo run during whose training the worker is killed and restarted."""
    data = sample_data_root(tmp_path_factory.mktemp("edge"))
    stack = edge_stack_for(data)
    worker = worker_for(stack, PROJECT + "gpu")
    for project in (stack, worker):
        project.run("down", "-v", check=False)
    started = time.monotonic()
    try:
        stack.run("up", "-d")
        stack.wait_healthy()
        worker.run("up", "-d")
        stack.token = stack.request("POST", "/auth/token", {"username": "admin", "password": stack.password})[
            "access_token"]
        stack.once_parsed("PATCH", "/api/v2/dags/stt_fr_training", {"is_paused": False})
        print("\nstack and GPU worker up in {:.0f} s".format(time.monotonic() - started))
        conf = dict(demo_module().DEMO_CONF)
        run = stack.request("POST", "/api/v2/dags/stt_fr_training/dagRuns", {"logical_date": None, "conf": conf})
        run_id = run["dag_run_id"]
        triggered = time.monotonic()
        # a few epochs in: killed mid-training, with most of it still to run
        assert wait_for(lambda: history_length(data) >= 3, 900), (task_states(stack, run_id), worker.logs("gpu-worker"))
        worker_container = worker.container("gpu-worker")
        subprocess.run(["docker", "kill", worker_container], check=True, capture_output=True)
        killed_at = history_length(data)
        killed_states = task_states(stack, run_id)
        time.sleep(2)
        subprocess.run(["docker", "start", worker_container], check=True, capture_output=True)
        state = "running"
        deadline = time.monotonic() + 1200
        while state not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(5)
            state = stack.request("GET", "/api/v2/dags/stt_fr_training/dagRuns/{}".format(run_id))["state"]
        print("two-worker demo run {} in {:.0f} s (worker killed after {} epochs)".format(
            state, time.monotonic() - triggered, killed_at))
        yield SimpleNamespace(stack=stack, worker=worker, run_id=run_id, state=state, conf=conf, killed_at=killed_at,
                              killed_states=killed_states, tis=task_instances(stack, run_id), data=data)
    finally:
        worker.run("down", "-v", check=False)
        stack.run("down", "-v", check=False)
        for container in stack.task_containers():
            subprocess.run(["docker", "rm", "-f", container["Id"]], capture_output=True)


def test_the_demo_run_goes_through_with_the_training_steps_on_the_gpu_worker(edge):
    assert edge.state == "success", (
        {task: (ti["state"], ti["try_number"]) for task, ti in edge.tis.items()},
        edge.worker.logs("gpu-worker")[-4000:],
        edge.stack.run("logs", "--tail", "60", "scheduler", check=False).stdout[-4000:])
    for task in GPU_TASKS:
        ti = edge.tis[task]
        assert (ti["state"], ti["hostname"], ti["queue"]) == ("success", WORKER_NAME, "gpu"), ti
    for task in ["preflight", "importers.common_voice", "lm", "export", "package", "report"]:
        ti = edge.tis[task]
        assert ti["state"] == "success" and ti["hostname"] != WORKER_NAME and ti["queue"] != "gpu", ti


def created_through(proxy_log: str) -> List[str]:
    """The container names a proxy let through a create request (HAProxy's log: status 201)."""
    return re.findall(r" 201 .*\"POST /v[\d.]+/containers/create\?name=([\w.-]+) HTTP", proxy_log)


def test_the_training_containers_were_created_through_the_workers_proxy_only(edge):
    containers = [c for c in edge.stack.task_containers() if c["Config"]["Labels"]["stt.run_id"] == edge.run_id]
    by_task: Dict[str, List[str]] = {}
    for container in containers:
        by_task.setdefault(container["Config"]["Labels"]["stt.task_id"], []).append(container["Name"].lstrip("/"))
    through_worker = set(created_through(edge.worker.logs("docker-proxy")))
    main_proxy = edge.stack.run("logs", "--no-color", "docker-proxy", check=False).stdout
    through_stack = set(created_through(main_proxy))
    assert through_worker and through_stack, (through_worker, through_stack)  # both proxies' logs are read
    for task in GPU_TASKS:
        assert by_task.get(task) and set(by_task[task]) <= through_worker - through_stack, (task, by_task)
    for task in ["preflight", "lm", "package"]:
        assert set(by_task[task]) <= through_stack - through_worker, (task, by_task)
    # the worker's containers run the image the worker planned with, with no network, as uid 999
    train = [c for c in containers if c["Config"]["Labels"]["stt.task_id"] == "train"]
    assert [c["HostConfig"]["NetworkMode"] for c in train] == ["none"] and train[0]["Config"]["User"] == "999:999"


def test_a_worker_killed_mid_training_resumes_from_its_last_checkpoint(edge):
    conf = edge.conf
    assert edge.killed_states["train"][0] == "running" and 3 <= edge.killed_at < conf["epochs"], edge.killed_states
    train = edge.tis["train"]
    assert train["state"] == "success" and train["try_number"] >= 2, train
    retry_log = task_log(edge.stack, edge.run_id, "train", train["try_number"])
    done = re.search(r"(\d+) of (\d+) epochs done, (\d+) to run", retry_log)
    assert done, retry_log[-3000:]
    epochs_done, epochs, to_run = map(int, done.groups())
    print("\nkilled after {} epochs; the retry found {} done and ran {}".format(edge.killed_at, epochs_done, to_run))
    # the retry resumed (neither from scratch nor after an orphan finished the training) ...
    assert epochs == conf["epochs"] and edge.killed_at <= epochs_done < epochs and to_run == epochs - epochs_done
    assert "left by an earlier try" in retry_log  # ... once the first try's container was removed
    # ... and no optimiser step ran twice: exactly epochs x steps per epoch
    training = json.loads((edge.data / "checkpoints" / "training.json").read_text())
    clips = sum(1 for line in (edge.data / "checkpoints" / "train_set.tsv").read_text().splitlines()[1:] if line)
    steps_per_epoch = -(-clips // int(conf["batch_size"]))
    assert training["global_step"] == conf["epochs"] * steps_per_epoch, (training["global_step"], clips)
    # every epoch's losses are in the history (one more when the kill fell between an epoch's loss and its checkpoint)
    history = json.loads((edge.data / "checkpoints" / "training_history.json").read_text())["epochs"]
    assert len(history) in (conf["epochs"], conf["epochs"] + 1)
    model = edge.data / "models" / "output_graph.tflite"
    if model.is_file():  # for comparing with an uninterrupted demo's model (make demo prints its sha256)
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        print("model of the resumed run: output_graph.tflite sha256 {}".format(digest))


def start_failing_worker(stack: Stack, **settings: str) -> Tuple[str, Optional[int]]:
    """The first line a worker with these settings says, and its exit status, started and brought down."""
    worker = worker_for(stack, PROJECT + "badgpu", STT_API_WAIT_SECONDS="2", **settings)
    worker.run("down", "-v", check=False)
    try:
        worker.run("up", "-d")
        said: List[str] = []

        def stopped() -> bool:
            said[:] = [line for line in worker.logs("gpu-worker").splitlines() if line.startswith("gpu-worker: ")]
            return bool(said)

        assert wait_for(stopped, 120), worker.logs("gpu-worker")[-3000:]
        inspected = json.loads(subprocess.run(["docker", "inspect", worker.container("gpu-worker")],
                                              capture_output=True, text=True).stdout)[0]
        return said[0], inspected["State"]["ExitCode"] if not inspected["State"]["Running"] else None
    finally:
        worker.run("down", "-v", check=False)


def test_a_worker_with_a_wrong_secret_says_so(edge):
    line, status = start_failing_worker(edge.stack, AIRFLOW_JWT_SECRET="another-secret-of-32-characters-x")
    assert "refused this worker's signature" in line and "AIRFLOW_JWT_SECRET" in line, line
    assert status in (None, 78), status  # None: caught while Docker restarted it


def test_a_worker_that_cannot_reach_the_api_server_says_so(edge):
    url = "http://127.0.0.1:{}".format(free_ports(1)[0])
    line, _ = start_failing_worker(edge.stack, STT_API_URL=url)
    assert "cannot reach the Airflow API server at {}/".format(url) in line and "STT_API_URL" in line, line


def test_a_worker_pointed_at_a_server_without_the_edge_api_says_so(edge):
    # the stack's UI answers every unknown path: a URL with a path in it reaches no Edge API
    line, _ = start_failing_worker(edge.stack, STT_API_URL=edge.stack.api + "/airflow")
    assert "serves no Edge worker API" in line and "STT_EDGE_API_ENABLED=True" in line, line


def test_the_worker_that_works_said_it_was_accepted(edge):
    log = edge.worker.logs("gpu-worker")
    accepted = "gpu-worker: the API server at {}/edge_worker/v1/ accepts this worker".format(edge.stack.api)
    assert accepted in log, log[-2000:]


@pytest.mark.skipif(not _browser_present() and not os.environ.get("CI"), reason="needs chromium and selenium")
def test_the_ui_lists_the_gpu_worker_and_its_queue(edge):
    """What an operator looks at to see whether a GPU host is connected: Admin -> Edge Executor."""
    from tests.deploy.test_browser import log_in, new_browser, open_menu_entry, screenshot, wait_for as wait_in_page

    driver = new_browser()
    try:
        log_in(driver, edge.stack)
        open_menu_entry(driver, "Admin", "Edge Executor")

        def worker_row() -> List[str]:
            for row in driver.find_elements("css selector", "tr"):
                cells = [cell.text.strip() for cell in row.find_elements("css selector", "td")]
                if WORKER_NAME in cells:
                    return cells
            return []

        cells = wait_in_page(worker_row, "the worker's row in the Edge Executor page", 60)
        screenshot(driver, "edge-workers")
        # its queue in a cell of its own (the name contains "gpu" too), connected and healthy
        assert "gpu" in cells and ("idle" in cells or "running" in cells) and "Healthy" in cells, cells
    finally:
        driver.quit()
