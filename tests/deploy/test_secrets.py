"""Secure defaults: airflow-init refuses weak secrets, `make env` generates strong ones, the example has none.

The init script runs for real with bash; the secret check comes before its first ``airflow`` command,
so a refusal needs no database, and an accepted secret is seen getting past it to the database check.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

REPO = Path(__file__).resolve().parents[2]
INIT = REPO / "docker" / "airflow-init.sh"
ENVFILE = REPO / "scripts" / "envfile.py"
STRONG = "x9Kq2mP7vL4rT8wZ5nB3"


def example_settings() -> Dict[str, str]:
    settings = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            settings[name] = value
    return settings


def run_init(postgres_password: str, jwt_secret: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",  # no airflow here: an accepted secret fails at the database check instead
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:{}@postgres:5432/airflow".format(
            postgres_password),
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
    }
    return subprocess.run(["bash", str(INIT)], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("password, reason", [
    ("", "is empty"),
    ("change-me", "placeholder"),
    ("change-me-too", "placeholder"),
    ("fifteen-chars-x", "shorter than 16"),
])
def test_init_refuses_a_weak_database_password(password, reason):
    done = run_init(password, STRONG)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "POSTGRES_PASSWORD" in lines[0] and reason in lines[0] and "make env" in lines[0]


@pytest.mark.parametrize("secret", ["", "change-me-too", "short"])
def test_init_refuses_a_weak_jwt_secret(secret):
    done = run_init(STRONG, secret)
    assert done.returncode == 2
    assert "AIRFLOW_JWT_SECRET" in done.stderr and "make env" in done.stderr


def test_init_accepts_sixteen_characters_and_goes_on_to_the_database():
    done = run_init("sixteen-chars-xx", STRONG)
    assert "make env" not in done.stderr
    assert "cannot use the metadata database" in done.stderr  # the next check: no airflow on PATH here


def test_the_example_carries_no_usable_secret():
    settings = example_settings()
    done = run_init(settings["POSTGRES_PASSWORD"], settings["AIRFLOW_JWT_SECRET"])
    assert done.returncode == 2 and "make env" in done.stderr
    assert run_init(STRONG, settings["AIRFLOW_JWT_SECRET"]).returncode == 2


def test_make_env_writes_generated_secrets_the_init_accepts(tmp_path):
    output = tmp_path / ".env"
    done = subprocess.run([sys.executable, str(ENVFILE), "--output", str(output)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = {}
    for line in output.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            written[name] = value
    example = example_settings()
    assert set(written) == set(example)  # every setting of the example, the comments kept too
    assert output.read_text().count("\n#") == (REPO / ".env.example").read_text().count("\n#")
    assert len(written["POSTGRES_PASSWORD"]) >= 16 and len(written["AIRFLOW_JWT_SECRET"]) >= 16
    assert written["STT_DATA_DIR"] == example["STT_DATA_DIR"]
    assert stat.S_IMODE(os.stat(str(output)).st_mode) == 0o600
    init = run_init(written["POSTGRES_PASSWORD"], written["AIRFLOW_JWT_SECRET"])
    assert "make env" not in init.stderr and "cannot use the metadata database" in init.stderr

    other = tmp_path / ".env2"
    subprocess.run([sys.executable, str(ENVFILE), "--output", str(other)], check=True, capture_output=True)
    assert other.read_text() != output.read_text()  # generated, not constants


def test_make_env_never_overwrites_an_existing_env(tmp_path):
    output = tmp_path / ".env"
    output.write_text("POSTGRES_PASSWORD=the-one-the-database-has\n")
    done = subprocess.run([sys.executable, str(ENVFILE), "--output", str(output)], capture_output=True, text=True)
    assert done.returncode == 1
    assert str(output) in done.stderr and "keeping it" in done.stderr
    assert output.read_text() == "POSTGRES_PASSWORD=the-one-the-database-has\n"


def test_make_env_runs_the_generator_on_the_repository_env():
    recipe = subprocess.run(["make", "-n", "-C", str(REPO), "env"], capture_output=True, text=True, check=True).stdout
    assert "scripts/envfile.py --template .env.example --output .env" in recipe


def test_demo_settings_come_from_the_same_generator(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import demo
    finally:
        sys.path.remove(str(REPO / "scripts"))
    settings = tmp_path / ".env.demo"
    assert demo.ensure_env(settings, tmp_path / "data") is True
    first = settings.read_text()
    assert demo.ensure_env(settings, tmp_path / "other") is False and settings.read_text() == first
    values = demo.read_env(settings)
    assert values["STT_DATA_DIR"] == str(tmp_path / "data")
    assert all(len(values[name]) >= 16 for name in ("POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET",
                                                     "AIRFLOW_ADMIN_PASSWORD"))
