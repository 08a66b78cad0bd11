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
| ``stt_docker_url`` | ``unix://var/run/docker.sock`` | Docker engine for CPU steps (compose: the proxy's unix socket, ``unix:///run/stt-docker-proxy/docker.sock``) |
| ``stt_gpu_docker_url`` | ``stt_docker_url`` | Docker engine for GPU steps (e.g. a GPU workstation); ``tcp://`` only with the three TLS settings below |
| ``stt_docker_tls_ca_cert`` | empty | CA certificate (a file in the Airflow containers) that signed a ``tcp://`` engine's certificate |
| ``stt_docker_tls_client_cert`` | empty | client certificate presented to a ``tcp://`` engine (run with ``--tlsverify``) |
| ``stt_docker_tls_client_key`` | empty | its private key |
| ``stt_transfer_roots`` | empty (none) | host folders (``:``-separated) under which a transfer checkpoint may be; the proxy allows no other |
| ``stt_download_network`` | ``bridge`` | network of steps that download (every other step has none) |
| ``stt_retry_delay_seconds`` | empty (each step kind's own) | first retry delay of every step, overriding the step kinds' (``pipeline_steps.KINDS``); doubles on each try up to the kind's maximum. Read from the environment only, when the DAG is parsed |
| ``stt_auto_remove`` | ``success`` | remove task containers when they end: ``success`` (also on failure: the task log keeps the output), ``force``, or ``never`` (keep them for debugging: ``docker ps -a --filter label=stt.dag_id``) |
| ``stt_gpu_queue`` | empty (the default queue) | queue of the training-kind steps, served by an Edge worker on a GPU host (``airflow edge worker -q <queue>``); set, those tasks run with the ``EdgeExecutor``. Read from the environment only, when the DAG is parsed |
| ``stt_shm_size`` | ``8g`` | shared memory of training containers |
| ``stt_airflow_data_dir`` | ``stt_host_data_dir`` | the data root as Airflow's own processes see it (watcher, report view) |
| ``stt_release_metadata_url`` | empty (off) | folder (URL or path) of the public cv-dataset release JSON files |
| ``stt_min_new_validated_hours`` | ``10`` | retrain only when a release adds at least this many validated hours |
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import List, NamedTuple, Optional

DEFAULTS = {
    "stt_cpu_image": "stt-tasks-cpu",
    "stt_gpu_image": "stt-tasks-gpu",
    "stt_gpu_enabled": "false",
    "stt_host_data_dir": "/srv/stt-data",
    "stt_docker_url": "unix://var/run/docker.sock",
    "stt_gpu_docker_url": "",
    "stt_docker_tls_ca_cert": "",
    "stt_docker_tls_client_cert": "",
    "stt_docker_tls_client_key": "",
    "stt_transfer_roots": "",
    "stt_download_network": "bridge",
    "stt_retry_delay_seconds": "",
    "stt_auto_remove": "success",
    "stt_gpu_queue": "",
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
    """A setting read as a boolean (1/true/yes/on)."""
    return setting(name).strip().lower() in ("1", "true", "yes", "on")


def airflow_data_dir() -> str:
    """The data root as Airflow's own processes see it."""
    return setting("stt_airflow_data_dir") or setting("stt_host_data_dir")


def retry_delay_override() -> Optional[timedelta]:
    """The first retry delay of every step when set; None: each step kind's own.

    Read from the environment only: retry delays are fixed when the DAG is parsed.
    """
    text = os.environ.get("STT_RETRY_DELAY_SECONDS", DEFAULTS["stt_retry_delay_seconds"]).strip()
    return timedelta(seconds=float(text)) if text else None


#: The executor of the tasks on the GPU queue (``AIRFLOW__CORE__EXECUTOR`` must list it after LocalExecutor).
GPU_EXECUTOR = "EdgeExecutor"


def gpu_queue() -> Optional[str]:
    """The queue of the training-kind steps (None: the default queue, on the default executor).

    Read from the environment only: a task's queue and executor are fixed when the DAG is parsed.
    """
    return os.environ.get("STT_GPU_QUEUE", DEFAULTS["stt_gpu_queue"]).strip() or None


AUTO_REMOVE_CHOICES = ("success", "force", "never")


def auto_remove() -> str:
    """When task containers are removed (``stt_auto_remove``), checked against the choices."""
    value = setting("stt_auto_remove").strip().lower()
    if value not in AUTO_REMOVE_CHOICES:
        raise ValueError(
            "stt_auto_remove is {!r}; use one of {}".format(value, ", ".join(AUTO_REMOVE_CHOICES))
        )
    return value


def transfer_roots() -> List[str]:
    """The host folders a transfer checkpoint may be under (``stt_transfer_roots``); the proxy allows no other."""
    return [os.path.normpath(root) for root in setting("stt_transfer_roots").split(":") if root.strip()]


def is_under_transfer_root(path: str) -> bool:
    """True when ``path`` is a clean absolute path under one of the transfer roots (as the proxy checks it)."""
    if not path.startswith("/") or os.path.normpath(path) != path or path.startswith("//"):
        return False
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in transfer_roots())


class DockerTls(NamedTuple):
    """Client certificate files for a Docker engine reached over TCP (paths in the Airflow containers)."""

    ca_cert: str
    client_cert: str
    client_key: str


#: URL schemes of a Docker engine reached over the network, which must be TLS with client certificates.
NETWORK_SCHEMES = ("tcp://", "http://", "https://")
TLS_SETTINGS = ("stt_docker_tls_ca_cert", "stt_docker_tls_client_cert", "stt_docker_tls_client_key")


def docker_tls(url_setting: str) -> Optional[DockerTls]:
    """The TLS files for the engine of ``url_setting``; None for a local socket or ssh.

    An unauthenticated Docker API over TCP is root on its host for anyone on the network: a
    ``tcp://`` URL without the three TLS settings raises ValueError saying how to configure them.
    """
    url = setting(url_setting).strip()
    if not url.lower().startswith(NETWORK_SCHEMES):
        return None
    files = [setting(name).strip() for name in TLS_SETTINGS]
    if not all(files):
        raise ValueError(
            "{} is {}, a Docker API over the network without TLS: set {} (files in the Airflow containers; "
            "the engine runs with --tlsverify and its own CA), or leave {} empty to run the steps through "
            "the local proxy".format(url_setting.upper(), url, ", ".join(n.upper() for n in TLS_SETTINGS),
                                     url_setting.upper())
        )
    return DockerTls(*files)
