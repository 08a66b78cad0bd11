"""The GPU host's compose file, as docker-compose reads it: three settings, the worker, the same proxy.

Checked on the resolved configuration (``docker-compose config``), so that what is asserted is what
Compose would start: the Docker socket reaches the proxy only, nothing publishes a port, and the
worker plans its containers with the settings its proxy checks them against.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.gpu-worker.yml"
SETTINGS = {"STT_API_URL": "https://airflow.example.org", "AIRFLOW_JWT_SECRET": "s3cret",
            "STT_DATA_DIR": "/srv/stt-data"}

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose")


def resolved(settings: Dict[str, str], *overrides: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", **settings}
    files = [arg for path in (COMPOSE_FILE,) + overrides for arg in ("-f", str(path))]
    return subprocess.run(["docker-compose"] + files + ["config"], env=env, cwd=str(REPO),
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def services() -> Dict[str, Any]:
    done = resolved(SETTINGS)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


@pytest.mark.parametrize("missing", sorted(SETTINGS))
def test_each_of_the_three_settings_is_required_by_name(missing):
    done = resolved({name: value for name, value in SETTINGS.items() if name != missing})
    assert done.returncode != 0 and missing in done.stderr, done.stderr


def test_the_worker_pulls_the_gpu_queue_from_the_api_server(services):
    worker = services["gpu-worker"]
    assert worker["command"][:4] == ["python3", "/opt/airflow/plugins/stt_pipeline/edge_worker.py", "-q", "gpu"]
    env = worker["environment"]
    assert env["AIRFLOW__EDGE__API_URL"] == "https://airflow.example.org/edge_worker/v1/rpcapi"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "s3cret"
    assert "EdgeExecutor" in env["AIRFLOW__CORE__EXECUTOR"] and env["STT_GPU_QUEUE"] == "gpu"
    assert not any("SQL_ALCHEMY_CONN" in name for name in env)  # no database access from the worker


def test_the_engine_is_reached_only_through_the_proxy_and_nothing_publishes_a_port(services):
    for name, service in services.items():
        assert not service.get("ports"), name
        sockets = [volume for volume in service.get("volumes", [])
                   if "docker.sock" in str(volume) and "stt-docker-proxy" not in str(volume)]
        assert bool(sockets) == (name == "docker-proxy"), name
    assert services["docker-proxy"]["network_mode"] == "none"
    assert services["gpu-worker"]["environment"]["STT_DOCKER_URL"] == "unix:///run/stt-docker-proxy/docker.sock"


def test_the_worker_plans_with_the_settings_its_proxy_checks(services):
    proxy, worker = services["docker-proxy"]["environment"], services["gpu-worker"]["environment"]
    assert proxy["STT_HOST_DATA_DIR"] == "/srv/stt-data"
    assert {name: worker[name] for name in proxy} == proxy


def test_the_host_network_override_puts_only_the_worker_on_the_hosts_network():
    done = resolved(SETTINGS, REPO / "docker-compose.gpu-worker.host-network.yml")
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["gpu-worker"]["network_mode"] == "host" and services["docker-proxy"]["network_mode"] == "none"
    assert not any(service.get("ports") for service in services.values())


def test_the_worker_and_the_stack_count_heartbeats_alike(services):
    main = subprocess.run(["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config"], cwd=str(REPO),
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "STT_DATA_DIR": "/srv/stt-data",
                               "POSTGRES_PASSWORD": "x" * 16, "AIRFLOW_JWT_SECRET": "y" * 16,
                               "STT_EDGE_HEARTBEAT_INTERVAL": "7"},
                          capture_output=True, text=True)
    assert main.returncode == 0, main.stderr
    scheduler = yaml.safe_load(main.stdout)["services"]["scheduler"]["environment"]
    worker = resolved(dict(SETTINGS, STT_EDGE_HEARTBEAT_INTERVAL="7"))
    assert worker.returncode == 0, worker.stderr
    worker_env = yaml.safe_load(worker.stdout)["services"]["gpu-worker"]["environment"]
    assert scheduler["AIRFLOW__EDGE__HEARTBEAT_INTERVAL"] == worker_env["AIRFLOW__EDGE__HEARTBEAT_INTERVAL"] == "7"
    assert services["gpu-worker"]["environment"]["AIRFLOW__EDGE__HEARTBEAT_INTERVAL"] == "30"
