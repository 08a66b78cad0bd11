"""The main job (`make demo`): the sample corpus through the whole pipeline, in the Airflow stack.

Builds nothing itself (the Makefile builds the images first). Writes a .env with generated secrets
when there is none, synthesises the sample corpus into the data directory, starts the stack
(docker-compose.yml, plus the host-network override where Docker has no bridge network), triggers
the training DAG with demo parameters through the REST API, follows it to the end, and prints the
results, the artifact paths and the UI address. Ctrl-C brings the stack down cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "stt_fr_training"
API = "http://127.0.0.1:8080"
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
STAGE_STEPS = [("lm", "lm"), ("train", "train"), ("optimize_lm", "optimize-lm"), ("test", "test"),
               ("export", "export"), ("transcribe", "transcribe"), ("package", "package"), ("report", "report")]


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


def ensure_env(path: Path, data_dir: Path) -> Dict[str, str]:
    """A .env with generated secrets; an existing one is kept as it is."""
    if not path.is_file():
        path.write_text(
            "STT_DATA_DIR={}\nPOSTGRES_PASSWORD={}\nAIRFLOW_JWT_SECRET={}\nAIRFLOW_ADMIN_PASSWORD={}\n".format(
                data_dir, secrets.token_urlsafe(16), secrets.token_urlsafe(32), secrets.token_urlsafe(12)
            )
        )
        os.chmod(str(path), 0o600)
        log("wrote {} with generated secrets".format(path))
    return read_env(path)


def compose_command() -> List[str]:
    files = ["-f", "docker-compose.yml"]
    bridge = subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True)
    if bridge.returncode != 0:  # dockerd --bridge=none: share the host's network, listen on 127.0.0.1
        files += ["-f", "docker-compose.host-network.yml"]
    else:
        files += ["-f", "docker-compose.ui.yml"]
    binary = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    return binary + ["-p", "stt"] + files


def compose_env(env_file: Dict[str, str], host_network: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(env_file)
    if host_network:
        env.update(STT_DB_HOST="127.0.0.1", STT_API_HOST="127.0.0.1", STT_PROXY_HOST="127.0.0.1",
                   STT_PROXY_BIND="127.0.0.1:2375", STT_DB_LISTEN="127.0.0.1")
    return env


def request(method: str, path: str, token: Optional[str] = None, body: Optional[Dict[str, Any]] = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(API + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read().decode() or "null")


def wait_for_api(timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request("GET", "/api/v2/monitor/health")
            return
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(2)
    raise SystemExit("the Airflow API did not answer on {} within {} s".format(API, timeout))


def available_stop(image: str) -> str:
    """The last stage whose step exists in the CPU image (the pipeline grows issue by issue)."""
    listed = subprocess.run(["docker", "run", "--rm", "--network", "none", image, "--help"],
                            capture_output=True, text=True).stdout
    last = "alphabet"
    for stage, step in STAGE_STEPS:
        if " {} ".format(step) not in listed and "\n    {}\n".format(step) not in listed:
            break
        last = stage
    return "" if last == STAGE_STEPS[-1][0] else last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(REPO / "demo-data"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up at the end (to browse the UI)")
    args = parser.parse_args()
    os.chdir(str(REPO))
    data_dir = Path(args.data_dir).absolute()
    env_file = ensure_env(REPO / ".env", data_dir)
    data_dir = Path(env_file.get("STT_DATA_DIR", str(data_dir)))
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(str(data_dir), 0o777)
    image = env_file.get("STT_CPU_IMAGE", "stt-tasks-cpu")
    compose = compose_command()
    env = compose_env(env_file, "docker-compose.host-network.yml" in compose)

    started = time.monotonic()
    log("synthesising the sample corpus into {}/sources".format(data_dir))
    subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", "{}:/mnt".format(data_dir), image,
                    "sample-corpus", "--dest", "/mnt/sources"], check=True, stdout=subprocess.DEVNULL)

    def bring_down(*_: Any) -> None:
        log("stopping the stack")
        subprocess.run(compose + ["down"], env=env)
        raise SystemExit(130)

    signal.signal(signal.SIGINT, bring_down)
    signal.signal(signal.SIGTERM, bring_down)
    log("starting the stack: " + " ".join(compose + ["up", "-d"]))
    subprocess.run(compose + ["up", "-d"], env=env, check=True)
    wait_for_api()
    password = env_file.get("AIRFLOW_ADMIN_PASSWORD") or json.loads(subprocess.run(
        compose + ["exec", "-T", "api-server", "cat", "/opt/airflow/secrets/passwords.json"],
        env=env, capture_output=True, text=True, check=True).stdout)["admin"]
    token = request("POST", "/auth/token", body={"username": "admin", "password": password})["access_token"]

    deadline = time.monotonic() + 300
    while True:
        try:
            request("PATCH", "/api/v2/dags/{}".format(DAG_ID), token, {"is_paused": False})
            break
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(3)  # the dag-processor has not parsed the DAG yet
    conf = dict(DEMO_CONF, stop_after=os.environ.get("DEMO_STOP_AFTER", available_stop(image)))
    run = request("POST", "/api/v2/dags/{}/dagRuns".format(DAG_ID), token, {"logical_date": None, "conf": conf})
    run_id = run["dag_run_id"]
    log("triggered {} ({}), stop_after={!r}".format(DAG_ID, run_id, conf["stop_after"]))

    seen: Dict[str, str] = {}
    state = run["state"]
    deadline = time.monotonic() + args.timeout
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(5)
        state = request("GET", "/api/v2/dags/{}/dagRuns/{}".format(DAG_ID, run_id), token)["state"]
        tasks = request("GET", "/api/v2/dags/{}/dagRuns/{}/taskInstances".format(DAG_ID, run_id), token)
        for ti in tasks["task_instances"]:
            if ti["state"] and seen.get(ti["task_id"]) != ti["state"]:
                seen[ti["task_id"]] = ti["state"]
                log("{:<34} {}".format(ti["task_id"], ti["state"]))
    elapsed = time.monotonic() - started
    log("run {} in {:.0f} s".format(state, elapsed))
    for task_id in ["importers.common_voice", "alphabet"] + [stage for stage, _ in STAGE_STEPS]:
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
    log("artifacts under {}: models/, lm/, checkpoints/, reports/".format(data_dir))
    log("web UI: {} (user admin; password in .env or printed by airflow-init)".format(API))
    if not args.keep_running:
        subprocess.run(compose + ["down"], env=env)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
