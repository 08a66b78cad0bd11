"""``SttStepOperator``: a DockerOperator that only fills in the pipeline's conventions.

Image and Docker engine by step kind, the data root bind-mounted at ``/mnt``, the optional
read-only transfer checkpoint, uid 999, no network except for downloads, GPU requests only when
enabled, a container name unique per run and try, the "nothing to do" exit code as a skip, and the
step's last output line (a JSON object) returned as a dict XCom.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from docker.types import DeviceRequest, Mount, Ulimit

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from stt_pipeline import deployment
from stt_pipeline.pipeline_steps import DOWNLOAD, KINDS, TRAINING, after_stop

#: stt_tasks' exit codes (stt_tasks.errors): an optional input is absent; an input is wrong.
EXIT_NOTHING_TO_DO = 99
EXIT_BAD_INPUT = 2
DATA_MOUNT = "/mnt"
TRANSFER_MOUNT = "/transfer-checkpoint"
CONTAINER_USER = "999:999"
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


def container_name(dag_id: str, task_id: str, run_id: str, try_number: int) -> str:
    """A Docker-safe name unique per DAG run and try (a retry never meets its killed predecessor)."""
    digest = hashlib.sha1(run_id.encode("utf-8")).hexdigest()[:10]
    readable = _NAME_UNSAFE.sub("-", "stt-{}-{}".format(dag_id, task_id))[:90].strip("-.")
    return "{}-{}-try{}".format(readable, digest, try_number)


@dataclass
class ContainerPlan:
    """Everything the operator decides about a container, computed without running it."""

    image: str
    docker_url: str
    network_mode: str
    mounts: List[Mount]
    device_requests: Optional[List[DeviceRequest]] = None
    shm_size: Optional[str] = None
    ulimits: List[Ulimit] = field(default_factory=list)


def plan_container(kind: str, transfer_checkpoint: Optional[str]) -> ContainerPlan:
    """The container of a step of ``kind``, from the deployment deployment."""
    gpu = kind == TRAINING and deployment.flag("stt_gpu_enabled")
    docker_url = deployment.setting("stt_docker_url")
    if gpu:
        docker_url = deployment.setting("stt_gpu_docker_url") or docker_url
    mounts = [Mount(target=DATA_MOUNT, source=deployment.setting("stt_host_data_dir"), type="bind")]
    if kind == TRAINING and transfer_checkpoint:
        mounts.append(Mount(target=TRANSFER_MOUNT, source=transfer_checkpoint, type="bind", read_only=True))
    plan = ContainerPlan(
        image=deployment.setting("stt_gpu_image" if gpu else "stt_cpu_image"),
        docker_url=docker_url,
        network_mode=deployment.setting("stt_download_network") if kind == DOWNLOAD else "none",
        mounts=mounts,
    )
    if kind == TRAINING:
        plan.shm_size = deployment.setting("stt_shm_size")
    if gpu:
        plan.device_requests = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        # NVIDIA's recommended limits for TensorFlow; memlock must stay off where no GPU runtime is.
        plan.ulimits = [Ulimit(name="memlock", soft=-1, hard=-1), Ulimit(name="stack", soft=67108864, hard=67108864)]
    return plan


class SttStepOperator(DockerOperator):
    """Run ``python -m stt_tasks <step> ...`` in the pipeline's image for ``kind``.

    :param step_arguments: the step's CLI (templated, item by item): step name, then options.
    :param kind: ``cpu``, ``training`` or ``download`` (see :mod:`stt_pipeline.pipeline_steps`).
    :param corpus: for import tasks, the corpus name: skipped when not in the run's ``corpora``.
    """

    def __init__(
        self,
        *,
        step_arguments: Sequence[str],
        kind: str,
        corpus: Optional[str] = None,
        path_lists: Sequence[Tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        step_kind = KINDS[kind]
        kwargs.setdefault("execution_timeout", step_kind.execution_timeout)
        kwargs.setdefault("retries", step_kind.retries)
        super().__init__(
            image=deployment.DEFAULTS["stt_cpu_image"],
            command=list(step_arguments),
            user=CONTAINER_USER,
            network_mode="none",
            auto_remove="success",
            mount_tmp_dir=False,
            force_pull=False,
            skip_on_exit_code=EXIT_NOTHING_TO_DO,
            # Every line, not only the last: Docker reads stdout and stderr through separate pipes, so
            # a log line written just before the result can reach the log after it.
            xcom_all=True,
            environment={"PYTHONUNBUFFERED": "1"},
            **kwargs,
        )
        self.kind = kind
        self.corpus = corpus
        self.path_lists = tuple(path_lists)

    def _skip_reason(self, params: Dict[str, Any]) -> Optional[str]:
        if after_stop(self.task_id, params.get("stop_after") or ""):
            return "the run stops after {!r}".format(params["stop_after"])
        if self.corpus is not None and self.corpus not in (params.get("corpora") or []):
            return "corpus {!r} is not in this run's corpora".format(self.corpus)
        if self.task_id == "optimize_lm" and not params.get("lm_evaluate_range"):
            return "no lm_evaluate_range: decoder tuning not asked for"
        return None

    def execute(self, context: Any) -> Dict[str, Any]:
        params = context["params"]
        reason = self._skip_reason(params)
        if reason:
            raise AirflowSkipException(reason)
        kind = self.kind
        if self.corpus is not None and params.get("download") and self.corpus != "common-voice":
            kind = DOWNLOAD
        # An option rendered empty (a flag turned off by a parameter) is dropped, not passed as ''.
        self.command = [argument for argument in self.command if argument != ""]
        for option, name in self.path_lists:
            paths = params.get(name) or []
            if paths:
                self.command += [option] + ["{}/{}".format(DATA_MOUNT, p) for p in paths]
        plan = plan_container(kind, params.get("transfer_checkpoint"))
        self.image = plan.image
        self.docker_url = plan.docker_url
        self.network_mode = plan.network_mode
        self.mounts = plan.mounts
        self.device_requests = plan.device_requests
        self.shm_size = plan.shm_size
        self.ulimits = plan.ulimits
        ti = context["ti"]
        self.container_name = container_name(ti.dag_id, ti.task_id, ti.run_id, ti.try_number)
        self.log.info("running %s in %s as %s", " ".join(self.command), self.image, self.container_name)
        try:
            line = super().execute(context)
        except DockerContainerFailedException as error:
            if _status_code(error) == EXIT_BAD_INPUT:
                # A bad input stays bad: fail now instead of spending retries; the log says the fix.
                raise AirflowFailException(
                    "step {} refused its input (exit {}); the task log names the file and the fix".format(
                        self.task_id, EXIT_BAD_INPUT
                    )
                ) from error
            raise
        return parse_result(line, self.task_id)


def _status_code(error: DockerContainerFailedException) -> Optional[int]:
    """The container's exit status carried by the provider's exception."""
    match = re.search(r"'StatusCode': (\d+)", str(error))
    return int(match.group(1)) if match else None


def parse_result(output: Any, task_id: str) -> Dict[str, Any]:
    """The step's JSON result: the last output line that is a JSON object.

    The step prints it last on stdout; stderr lines may still arrive after it (see ``xcom_all``).
    """
    lines = output if isinstance(output, list) else [output]
    for line in reversed([l for l in lines if l and l.strip()]):
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
        if not text.lstrip().startswith("{"):
            continue
        try:
            result = json.loads(text)
        except ValueError:
            continue
        if isinstance(result, dict):
            return result
    last = lines[-1] if lines else None
    raise AirflowException(
        "step {} ended without a JSON result line (last line: {!r}); see the task log.".format(task_id, last)
    )
