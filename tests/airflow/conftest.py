"""Airflow test environment: a private AIRFLOW_HOME with a migrated SQLite database.

Environment variables are set at import, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="stt-airflow-home-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    # one key for this process and the airflow CLI, so that tests can read encrypted Variables directly
    "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
# Subprocesses (the airflow CLI) import this checkout's stt_tasks and plugins, whatever is installed.
AIRFLOW_ENV["PYTHONPATH"] = os.pathsep.join(
    [str(REPO), str(REPO / "plugins")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
os.environ.update(AIRFLOW_ENV)
# The DAGs are parsed with the step kinds' own retry delays (tests that want immediate retries set it).
os.environ.pop("STT_RETRY_DELAY_SECONDS", None)
sys.path.insert(0, str(REPO / "plugins"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """``airflow db migrate`` once per session (SQLite under the private AIRFLOW_HOME)."""
    completed = subprocess.run(["airflow", "db", "migrate"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert completed.returncode == 0, completed.stdout.decode()[-3000:]
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    import time

    from airflow.dag_processing.dagbag import DagBag

    start = time.perf_counter()
    bag = DagBag(dag_folder=str(REPO / "dags"))
    elapsed = time.perf_counter() - start
    print("\nDAG folder parsed in {:.3f} s ({} DAGs)".format(elapsed, len(bag.dags)))
    bag.parse_seconds = elapsed
    return bag
