"""One running stack for every test of this folder: the REST API tests and the browser tests share it,
since starting it is most of their time."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.deploy.test_stack import Stack, sample_data_root


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The stack up and healthy, logged in, the training DAG unpaused; brought down at the end of the session."""
    data = sample_data_root(tmp_path_factory.mktemp("stack"))
    stack = Stack(data)
    stack.run("down", "-v", check=False)
    started = time.monotonic()
    stack.run("up", "-d")
    stack.wait_healthy()
    print("\nstack up and healthy in {:.0f} s".format(time.monotonic() - started))
    stack.token = stack.request("POST", "/auth/token", {"username": "admin", "password": stack.password})["access_token"]
    stack.once_parsed("PATCH", "/api/v2/dags/stt_fr_training", {"is_paused": False})
    # paused at creation: no run but the tests' own (the watcher would queue one on the sample release)
    assert stack.once_parsed("GET", "/api/v2/dags/stt_fr_release_watcher")["is_paused"] is True
    stack.data = data
    yield stack
    stack.run("down", "-v", check=False)
    for container in stack.task_containers():
        subprocess.run(["docker", "rm", "-f", container["Id"]], capture_output=True)

