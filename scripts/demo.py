"""The main job (`make demo`): the sample corpus through the whole pipeline, in the Airflow stack.

Builds nothing itself (the Makefile builds the images first). The demo is a stack of its own
(project `sttdemo`, settings in `.env.demo`, written with generated secrets when absent), so that it
never touches a deployment configured in `.env`. It synthesises the sample corpus into the data
directory, starts the stack (docker-compose.yml, plus the host-network override where Docker has no
bridge network), triggers the training DAG with demo parameters through the REST API, follows it to
the end, and prints the results, the artifact paths and the UI address. Ctrl-C brings the stack down
cleanly; `--down` brings down a stack left running with `--keep-running`.

`--gpu-worker` is the two-host deployment on one machine: the stack with the Edge executor, and an Edge
worker of its own (docker-compose.gpu-worker.yml, project `sttdemo-gpu`, on the host network) that runs
the training steps, as a GPU workstation would (README, "GPU").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from envfile import SECRET_BYTES, SettingsExist, fill_settings, generated_secrets, write_settings

REPO = Path(__file__).resolve().parents[1]
PROJECT = "sttdemo"
SETTINGS = REPO / ".env.demo"
DAG_ID = "stt_fr_training"
#: Paused in the demo: the sample corpus is a Common Voice release, and the watcher would queue a
#: full-length training run on it behind the demo's own (the stack allows one run at a time).
WATCHER_DAG_ID = "stt_fr_release_watcher"
API = "http://127.0.0.1:8080"  # the port changes when 8080 is taken on a host-network machine
#: The ports the stack listens on when it shares the host's network, by compose variable.
#: (The Docker API proxy has none: Airflow reaches it through a unix socket.)
HOST_PORTS = {"STT_DB_PORT": 5432, "STT_API_PORT": 8080}
#: Small and quick on a CPU: the demo shows the pipeline, not a production model.
DEMO_CONF = {
    "corpora": ["common-voice"],
    "batch_size": 8,
    "epochs": 60,
    "n_hidden": 200,
    "learning_rate": 0.002,
    "dropout": 0.0,
    "early_stop": False,
    "lm_top_k": 1000,
    "lm_texts": ["sources/sample_lm_fr.txt"],
    "lm_memory": "1G",
    "beam_width": 100,
    "lm_evaluate_range": "2,2,4",
}
#: The main stack's settings for GPU hosts as Edge workers (README, "GPU").
EDGE_SETTINGS = {"AIRFLOW_EXECUTOR": "LocalExecutor,airflow.providers.edge3.executors.EdgeExecutor",
                 "STT_EDGE_API_ENABLED": "True", "STT_GPU_QUEUE": "gpu"}
#: The tasks whose results (their XCom) the demo prints at the end.
RESULT_TASKS = ["importers.common_voice", "alphabet", "lm", "train", "optimize_lm", "test", "export", "transcribe",
                "package", "report"]


def log(message: str) -> None:
    print("[demo] " + message, flush=True)


def read_env(path: Path) -> Dict[str, str]:
    values = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def ensure_env(path: Path, data_dir: Path) -> bool:
    """Settings with generated secrets; an existing file is kept as it is. True when written now."""
    try:
        write_settings(path, fill_settings("", dict(STT_DATA_DIR=str(data_dir), **generated_secrets(SECRET_BYTES))))
    except SettingsExist:
        return False
    log("wrote {} with generated secrets".format(path))
    return True


def compose_command() -> List[str]:
    files = ["-f", "docker-compose.yml"]
    bridge = subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True)
    if bridge.returncode != 0:  # dockerd --bridge=none: share the host's network, listen on 127.0.0.1
        files += ["-f", "docker-compose.host-network.yml"]
    else:
        files += ["-f", "docker-compose.ui.yml"]
    return compose_binary() + ["--env-file", str(SETTINGS), "-p", PROJECT] + files


def compose_binary() -> List[str]:
    return ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


def worker_compose_command() -> List[str]:
    """The demo's GPU host: the worker's compose file, on the host network (it reaches the API on 127.0.0.1)."""
    return compose_binary() + ["--env-file", str(SETTINGS), "-p", PROJECT + "-gpu", "-f", "docker-compose.gpu-worker.yml",
                     "-f", "docker-compose.gpu-worker.host-network.yml"]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def host_ports(env_file: Dict[str, str]) -> Dict[str, int]:
    """The stack's ports on the host network: the settings' choice, else the default, else a free one.

    Sharing the host's network means sharing its ports: a PostgreSQL or a web server of the host's
    own would answer in place of the stack's (and the stack's database would refuse our password).
    """
    ports = {}
    for name, default in HOST_PORTS.items():
        if name in env_file:
            ports[name] = int(env_file[name])
        elif port_is_free(default):
            ports[name] = default
        else:
            ports[name] = free_port()
            log("port {} is taken on this host: the stack uses {} instead ({})".format(default, ports[name], name))
    return ports


def compose_env(env_file: Dict[str, str], host_network: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(env_file)
    env.setdefault("STT_DAGS_PAUSED_AT_CREATION", "True")  # see WATCHER_DAG_ID
    if host_network:
        ports = host_ports(env_file)
        env.update({name: str(port) for name, port in ports.items()})
        env.update(STT_DB_HOST="127.0.0.1", STT_API_HOST="127.0.0.1", STT_DB_LISTEN="127.0.0.1")
    return env


def show_stack_logs(compose: List[str], env: Dict[str, str]) -> None:
    """The end of every service's log, so that a failed start says why in the job's own output."""
    logs = subprocess.run(compose + ["logs", "--no-color", "--tail", "40"], env=env, capture_output=True, text=True)
    print(logs.stdout[-12000:] + logs.stderr[-2000:], flush=True)


def task_log_events(api: str, token: str, run_id: str, task_id: str, try_number: int) -> List[str]:
    """A task try's log messages, as the REST API serves them (one JSON object per line)."""
    path = "/api/v2/dags/{}/dagRuns/{}/taskInstances/{}/logs/{}".format(DAG_ID, run_id, task_id, try_number)
    req = urllib.request.Request(api + path, headers={"Authorization": "Bearer " + token,
                                                      "Accept": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=30) as response:
        lines = response.read().decode(errors="replace").splitlines()
    events = []
    for line in lines:
        try:
            events.append(str(json.loads(line).get("event", "")))
        except ValueError:
            events.append(line)
    return events


def show_task_log(token: str, run_id: str, task_id: str, try_number: int) -> None:
    """The end of a failed task's log (the step's own message names the file and the fix)."""
    try:
        events = task_log_events(API, token, run_id, task_id, try_number)
    except (urllib.error.URLError, OSError) as error:
        log("could not read the log of {}: {}".format(task_id, error))
        return
    log("last lines of {} (try {}):\n  ".format(task_id, try_number) + "\n  ".join(events[-30:]))


def request(method: str, path: str, token: Optional[str] = None, body: Optional[Dict[str, Any]] = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(API + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read().decode() or "null")
    except urllib.error.HTTPError as error:
        if error.code in (400, 422):  # a refused request: the API says which field and why
            raise RuntimeError("{} {} refused ({}): {}".format(method, path, error.code,
                                                               error.read().decode(errors="replace")[:2000])) from None
        raise


def wait_for_api(timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request("GET", "/api/v2/monitor/health")
            return
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(2)
    raise RuntimeError("the Airflow API did not answer on {} within {} s".format(API, timeout))


def admin_token(compose: List[str], env: Dict[str, str]) -> str:
    """A REST API token for admin: the password from the settings, else the one airflow-init generated."""
    password = env.get("AIRFLOW_ADMIN_PASSWORD") or json.loads(subprocess.run(
        compose + ["exec", "-T", "api-server", "cat", "/opt/airflow/secrets/passwords.json"],
        env=env, capture_output=True, text=True, check=True).stdout)["admin"]
    return request("POST", "/auth/token", body={"username": "admin", "password": password})["access_token"]


def set_paused(token: str, dag_id: str, paused: bool, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request("PATCH", "/api/v2/dags/{}".format(dag_id), token, {"is_paused": paused})
            return
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(3)  # the dag-processor has not parsed the DAG yet


def follow(token: str, run_id: str, timeout: float) -> Tuple[str, Dict[str, str]]:
    """Wait for the run to end, logging each task's changes of state; show failed tasks' logs."""
    seen: Dict[str, str] = {}
    failed: Dict[str, int] = {}
    state = "queued"
    tasks: Dict[str, Any] = {"task_instances": []}
    deadline = time.monotonic() + timeout
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(5)
        state = request("GET", "/api/v2/dags/{}/dagRuns/{}".format(DAG_ID, run_id), token)["state"]
        tasks = request("GET", "/api/v2/dags/{}/dagRuns/{}/taskInstances".format(DAG_ID, run_id), token)
        for ti in tasks["task_instances"]:
            if ti["state"] and seen.get(ti["task_id"]) != ti["state"]:
                seen[ti["task_id"]] = ti["state"]
                log("{:<34} {}".format(ti["task_id"], ti["state"]))
                if ti["state"] in ("failed", "up_for_retry"):
                    failed[ti["task_id"]] = ti["try_number"]
    if state not in ("success", "failed"):
        log("the run is still {} after {:.0f} s".format(state, timeout))
    durations = ["{} {:.0f} s{}".format(ti["task_id"], ti["duration"],
                                        " (on {})".format(ti["hostname"]) if ti.get("queue") == "gpu" else "")
                 for ti in tasks["task_instances"] if ti["state"] == "success" and ti.get("duration") is not None]
    log("task durations (container start and Airflow overhead included): " + ", ".join(durations))
    for task_id, try_number in failed.items():
        show_task_log(token, run_id, task_id, try_number)
    return state, seen


def print_results(token: str, run_id: str, seen: Dict[str, str]) -> None:
    for task_id in RESULT_TASKS:
        if seen.get(task_id) != "success":
            continue
        result = request("GET", "/api/v2/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries/return_value".format(
            DAG_ID, run_id, task_id), token)["value"]
        if isinstance(result, str):
            try:
                result = json.loads(result)
            except ValueError:
                pass
        log("{}: {}".format(task_id, json.dumps(result, ensure_ascii=False)[:400]))
        if task_id == "test" and isinstance(result, dict):
            log("WER {:.1%}, CER {:.1%} on the sample corpus's test speaker".format(result["wer"], result["cer"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(REPO / "demo-data"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up at the end (to browse the UI)")
    parser.add_argument("--down", action="store_true", help="only bring down a stack left by --keep-running")
    parser.add_argument("--gpu-worker", action="store_true",
                        help="run the training steps on an Edge worker of their own, as on a GPU host (README, GPU)")
    args = parser.parse_args()
    os.chdir(str(REPO))
    data_dir = Path(args.data_dir).absolute()
    new_settings = ensure_env(SETTINGS, data_dir)
    env_file = read_env(SETTINGS)
    data_dir = Path(env_file.get("STT_DATA_DIR", str(data_dir)))
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(str(data_dir), 0o777)
    image = env_file.get("STT_CPU_IMAGE", "stt-tasks-cpu")
    compose = compose_command()
    env = compose_env(env_file, "docker-compose.host-network.yml" in compose)
    global API
    API = "http://127.0.0.1:{}".format(env.get("STT_API_PORT", "8080"))
    worker = worker_compose_command()
    # the worker trains on the CPU image unless the settings enable GPUs (its compose file's default is a GPU host)
    worker_env = dict(env, STT_API_URL=API, STT_DATA_DIR=str(data_dir),
                      STT_GPU_ENABLED=env.get("STT_GPU_ENABLED") or "false")
    if args.gpu_worker:
        env.update(EDGE_SETTINGS)
    if args.down:
        subprocess.run(worker + ["down"], env=worker_env, capture_output=True)
        return subprocess.run(compose + ["down"], env=env).returncode

    started = time.monotonic()
    log("synthesising the sample corpus into {}/sources".format(data_dir))
    subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", "{}:/mnt".format(data_dir), image,
                    "sample-corpus", "--dest", "/mnt/sources"], check=True, stdout=subprocess.DEVNULL)

    def bring_down(*_: Any) -> None:
        log("stopping the stack")
        subprocess.run(worker + ["down"], env=worker_env, capture_output=True)
        subprocess.run(compose + ["down"], env=env)
        raise SystemExit(130)

    signal.signal(signal.SIGINT, bring_down)
    signal.signal(signal.SIGTERM, bring_down)
    # A stack left by an earlier demo (--keep-running, a killed run) is replaced. Its database is kept,
    # unless the settings are new: a database made with other secrets would refuse the new password.
    if new_settings:
        log("new settings: removing any database an earlier demo left (its secrets are gone)")
    subprocess.run(worker + ["down"], env=worker_env, capture_output=True)
    subprocess.run(compose + ["down", "--remove-orphans"] + (["--volumes"] if new_settings else []),
                   env=env, capture_output=True)
    log("starting the stack: " + " ".join(compose + ["up", "-d"]))
    state = "not started"
    try:
        subprocess.run(compose + ["up", "-d"], env=env, check=True)
        wait_for_api()
        if args.gpu_worker:
            log("starting the GPU host's Edge worker: " + " ".join(worker + ["up", "-d"]))
            subprocess.run(worker + ["up", "-d"], env=worker_env, check=True)
        token = admin_token(compose, env)
        set_paused(token, WATCHER_DAG_ID, True)  # already paused, unless an earlier demo's database says otherwise
        set_paused(token, DAG_ID, False)
        conf = dict(DEMO_CONF, stop_after=os.environ.get("DEMO_STOP_AFTER") or None)
        run = request("POST", "/api/v2/dags/{}/dagRuns".format(DAG_ID), token, {"logical_date": None, "conf": conf})
        run_id = run["dag_run_id"]
        log("triggered {} ({}), stop_after={!r}".format(DAG_ID, run_id, conf["stop_after"]))
        state, seen = follow(token, run_id, args.timeout)
        log("run {} in {:.0f} s".format(state, time.monotonic() - started))
        print_results(token, run_id, seen)
    except (subprocess.CalledProcessError, RuntimeError, urllib.error.URLError, OSError, KeyError) as error:
        log("the stack failed: {}; the services' logs:".format(error))
        show_stack_logs(compose, env)
    log("artifacts under {}: models/, lm/, checkpoints/, reports/".format(data_dir))
    log("web UI: {} (user admin, password in {})".format(API, SETTINGS.name))
    if not args.keep_running:
        log("`make demo DEMO_ARGS=--keep-running` leaves the stack up to browse it, `make demo-down` stops it")
    if not (args.keep_running and state != "not started"):
        if args.gpu_worker:
            subprocess.run(worker + ["down"], env=worker_env)
        subprocess.run(compose + ["down"], env=env)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
