"""Deployment settings of the pipeline, all in one place.

Each setting is read, at task run time, from an Airflow Variable of the same name (``stt_...``),
else from the environment variable in upper case (``STT_...``), else the default below. Nothing
is read at DAG parse time, so parsing stays fast and needs no database.

| setting | default | meaning |
|---|---|---|
| ``stt_cpu_image`` | ``stt-tasks-cpu`` | image for every step that needs no GPU |
| ``stt_gpu_image`` | ``stt-tasks-gpu`` | image for training steps when ``stt_gpu_enabled`` |
| ``stt_gpu_enabled`` | ``false`` | train/test/optimise on NVIDIA GPUs (else on the CPU image) |
| ``stt_host_data_dir`` | ``/srv/stt-data`` | the data root **on the Docker host**, mounted at /mnt |
| ``stt_docker_url`` | ``unix://var/run/docker.sock`` | Docker engine for CPU steps (a socket proxy in compose) |
| ``stt_gpu_docker_url`` | ``stt_docker_url`` | Docker engine for GPU steps (e.g. a GPU workstation) |
| ``stt_download_network`` | ``bridge`` | network of steps that download (every other step has none) |
| ``stt_retry_delay_seconds`` | ``60`` | first retry delay; doubles on each try |
| ``stt_shm_size`` | ``8g`` | shared memory of training containers |
| ``stt_airflow_data_dir`` | ``stt_host_data_dir`` | the data root as Airflow's own processes see it (watcher, report view) |
| ``stt_release_metadata_url`` | empty (off) | folder (URL or path) of the public cv-dataset release JSON files |
| ``stt_min_new_validated_hours`` | ``10`` | retrain only when a release adds at least this many validated hours |
"""

from __future__ import annotations

import os
from typing import Optional

DEFAULTS = {
    "stt_cpu_image": "stt-tasks-cpu",
    "stt_gpu_image": "stt-tasks-gpu",
    "stt_gpu_enabled": "false",
    "stt_host_data_dir": "/srv/stt-data",
    "stt_docker_url": "unix://var/run/docker.sock",
    "stt_gpu_docker_url": "",
    "stt_download_network": "bridge",
    "stt_retry_delay_seconds": "60",
    "stt_shm_size": "8g",
    "stt_airflow_data_dir": "",
    "stt_release_metadata_url": "",
    "stt_min_new_validated_hours": "10",
}


def setting(name: str) -> str:
    """The value of setting ``name``: Airflow Variable, else environment, else default."""
    value: Optional[str] = None
    try:
        from airflow.sdk import Variable

        value = Variable.get(name, default=None)
    except Exception:  # no Airflow context (tests, parsing): the environment decides
        value = None
    if value is None:
        value = os.environ.get(name.upper())
    if value is None:
        value = DEFAULTS[name]
    return str(value)


def flag(name: str) -> bool:
    return setting(name).strip().lower() in ("1", "true", "yes", "on")


def airflow_data_dir() -> str:
    return setting("stt_airflow_data_dir") or setting("stt_host_data_dir")


def retry_delay_seconds() -> float:
    """Read from the environment only: it is needed when the DAG is parsed."""
    return float(os.environ.get("STT_RETRY_DELAY_SECONDS", DEFAULTS["stt_retry_delay_seconds"]))
