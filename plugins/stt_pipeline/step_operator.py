"""``SttStepOperator``: a DockerOperator that only fills in the pipeline's conventions.

The command line rendered from the step's table entry, the run's params and the upstream results;
image and Docker engine by step kind, the data root bind-mounted at ``/mnt``, the parameters that
name host folders (a transfer checkpoint) mounted read-only, uid 999, no network except for downloads,
GPU requests (the ``gpus`` parameter) only when enabled, training steps on the GPU queue when there is
one, a container name unique per run and try (and labels naming the run, task and try), the
"nothing to do" exit code as a skip, and the step's last output line (a JSON object) returned as a
dict XCom. Before it starts, the containers of earlier tries of the same task in the same run are
removed: a task process that died (a scheduler restart) leaves its container running, and the retry
must not write the same data root beside it.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from docker.errors import NotFound
from docker.types import DeviceRequest, Mount, Ulimit

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from stt_pipeline import deployment
from stt_pipeline.pipeline_steps import RETRY_BACKOFF, limits_of
from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_NOTHING_TO_DO, EXIT_SETUP, EXIT_TEMPFAIL
from stt_tasks.gpus import ALL as ALL_GPUS, is_default as is_default_gpus, selection
from stt_tasks.parameters import PARAMETERS
from stt_tasks.stepspec import DOWNLOAD, TRAINING, StepSpec
from stt_tasks.steps import DATA_MOUNT, command_line, producers, skip_reason, task_id_of

CONTAINER_USER = "999:999"
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


def container_name(dag_id: str, task_id: str, run_id: str, try_number: int) -> str:
    """A Docker-safe name unique per DAG run and try (a retry never meets its killed predecessor)."""
    digest = hashlib.sha1(run_id.encode("utf-8")).hexdigest()[:10]
    readable = _NAME_UNSAFE.sub("-", "stt-{}-{}".format(dag_id, task_id))[:90].strip("-.")
    return "{}-{}-try{}".format(readable, digest, try_number)


#: Labels of a task container; all but the try number identify "the same task in the same run".
TRY_LABEL = "stt.try_number"


def container_labels(dag_id: str, task_id: str, run_id: str, try_number: int) -> Dict[str, str]:
    """Labels naming the DAG, task, run and try of a container (to find it again, and to filter on)."""
    return {"stt.dag_id": dag_id, "stt.task_id": task_id, "stt.run_id": run_id, TRY_LABEL: str(try_number)}


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
    #: client certificates for an engine reached over TCP (None: a local socket or ssh)
    tls: Optional[deployment.DockerTls] = None
    #: the setting that names ``image`` (for the message when the engine does not have it)
    image_setting: str = "STT_CPU_IMAGE"


def read_only_binds(step: StepSpec, params: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """(host path, container path) of the run parameters of ``step`` that are mounted (a transfer checkpoint)."""
    return [(str(params[name]), PARAMETERS[name].mount) for name in step.parameters
            if PARAMETERS[name].mount and params.get(name)]


def gpu_device_requests(gpus: Optional[str]) -> List[DeviceRequest]:
    """The NVIDIA device request for the ``gpus`` run parameter: all GPUs, a count, or device ids."""
    chosen = selection(gpus or ALL_GPUS)
    if chosen.device_ids:
        return [DeviceRequest(device_ids=list(chosen.device_ids), capabilities=[["gpu"]])]
    return [DeviceRequest(count=chosen.count, capabilities=[["gpu"]])]


def plan_container(kind: str, binds: Sequence[Tuple[str, str]] = (), gpus: Optional[str] = None) -> ContainerPlan:
    """The container of a step of ``kind`` with ``binds`` mounted read-only, from the deployment settings.

    ``gpus`` is the run's ``gpus`` parameter (None: the step has none): which GPUs a training container
    gets. Choosing GPUs where they are not enabled fails the task: the run would otherwise train on the
    CPU image while asking for GPUs.
    """
    gpu = kind == TRAINING and deployment.flag("stt_gpu_enabled")
    if not is_default_gpus(gpus) and not gpu:
        raise AirflowFailException(
            "gpus={} asks for GPUs, but {}: set STT_GPU_ENABLED=true (in .env, for Airflow and the proxy) on a "
            "host with the NVIDIA runtime, or leave gpus at all".format(
                gpus, "this step runs on the CPU" if kind != TRAINING else "STT_GPU_ENABLED is off"))
    url_setting = "stt_gpu_docker_url" if gpu and deployment.setting("stt_gpu_docker_url") else "stt_docker_url"
    docker_url = deployment.setting(url_setting)
    try:
        tls = deployment.docker_tls(url_setting)
    except ValueError as error:
        raise AirflowFailException(str(error)) from error
    for source, _ in binds:
        if not deployment.is_under_transfer_root(source):
            # the Docker API proxy would refuse the container: say which setting allows it
            raise AirflowFailException(
                "{} is not under STT_TRANSFER_ROOTS ({}): add its folder there (in .env, for Airflow and the "
                "proxy)".format(source, ":".join(deployment.transfer_roots()) or "empty")
            )
    mounts = [Mount(target=DATA_MOUNT, source=deployment.setting("stt_host_data_dir"), type="bind")]
    mounts += [Mount(target=target, source=source, type="bind", read_only=True) for source, target in binds]
    plan = ContainerPlan(
        image=deployment.setting("stt_gpu_image" if gpu else "stt_cpu_image"),
        image_setting="STT_GPU_IMAGE" if gpu else "STT_CPU_IMAGE",
        docker_url=docker_url,
        tls=tls,
        network_mode=deployment.setting("stt_download_network") if kind == DOWNLOAD else "none",
        mounts=mounts,
    )
    if kind == TRAINING:
        plan.shm_size = deployment.setting("stt_shm_size")
    if gpu:
        try:
            plan.device_requests = gpu_device_requests(gpus)
        except ValueError as error:  # a value the DAG's Param did not check (a run from the CLI or the API)
            raise AirflowFailException("gpus: {}".format(error)) from error
        # NVIDIA's recommended limits for TensorFlow; memlock must stay off where no GPU runtime is.
        plan.ulimits = [Ulimit(name="memlock", soft=-1, hard=-1), Ulimit(name="stack", soft=67108864, hard=67108864)]
    return plan


#: What the preflight on the Airflow host found that a step may take as run context (gpu-preflight).
PREFLIGHT_CONTEXT = ("data_root_token", "token_written_in")


def run_context(ti: Any, dag_run: Any = None, names: Sequence[str] = ()) -> Dict[str, Optional[str]]:
    """The run's context a step may take (``StepSpec.run_context``): its id and when it started (ISO 8601),
    and for ``names`` of :data:`PREFLIGHT_CONTEXT` the preflight task's result (the data root's token)."""
    started = getattr(dag_run, "start_date", None)
    context = {"run_id": getattr(ti, "run_id", None),
               "run_started": started.isoformat() if hasattr(started, "isoformat") else None}
    if any(name in PREFLIGHT_CONTEXT for name in names):
        found = ti.xcom_pull(task_ids=task_id_of("preflight"))
        if isinstance(found, dict):
            context.update({name: str(found[name]) for name in PREFLIGHT_CONTEXT if found.get(name)})
    return context


class SttStepOperator(DockerOperator):
    """Run one step of the table (``python -m stt_tasks <step> ...``) in the pipeline's image for its kind.

    :param step: the step's table entry (``stt_tasks.steps``): its CLI, parameters, inputs, kind, skip rules.
    :param language: the language pack the step runs with.

    The command line is rendered in :meth:`execute` from the entry, the run's params and the upstream
    steps' results (XCom), not by templates.
    """

    def __init__(self, *, step: StepSpec, language: str, **kwargs: Any) -> None:
        limits = limits_of(step.kind, may_download=bool(step.downloads_with))
        kwargs.setdefault("task_id", step.task_id)
        kwargs.setdefault("trigger_rule", step.trigger_rule)
        kwargs.setdefault("execution_timeout", limits.execution_timeout)
        kwargs.setdefault("retries", limits.retries)
        override = deployment.retry_delay_override()
        kwargs.setdefault("retry_delay", limits.retry_delay if override is None else override)
        kwargs.setdefault("max_retry_delay", limits.max_retry_delay)
        kwargs.setdefault("retry_exponential_backoff", RETRY_BACKOFF)
        kwargs.setdefault("doc_md", step.help)
        queue = deployment.gpu_queue() if step.kind == TRAINING else None
        if queue:  # on the GPU host's Edge worker; every other step stays on the default (Local) executor
            kwargs.setdefault("queue", queue)
            kwargs.setdefault("executor", deployment.GPU_EXECUTOR)
        super().__init__(
            image=deployment.DEFAULTS["stt_cpu_image"],
            command=list(step.command),
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
        self.step = step
        self.language = language

    def command_for(self, params: Mapping[str, Any], ti: Any, dag_run: Any = None) -> List[str]:
        """The step's argv for this run: its run context, its parameters, and its inputs from the upstream
        results (XCom)."""
        results = {name: ti.xcom_pull(task_ids=task_id_of(name)) for name in producers(self.step)}
        return command_line(self.step, self.language, params, results, run_context(ti, dag_run, self.step.run_context))

    def run_kind(self, params: Mapping[str, Any]) -> str:
        """The kind this run's container is planned as: ``download`` when the step downloads."""
        downloads = self.step.downloads_with
        return DOWNLOAD if downloads and params.get(downloads) else self.step.kind

    def execute(self, context: Any) -> Dict[str, Any]:
        params = context["params"]
        reason = skip_reason(self.step, params)
        if reason:
            raise AirflowSkipException(reason)
        ti = context["ti"]
        self.command = self.command_for(params, ti, context.get("dag_run"))
        gpus = params.get("gpus") if "gpus" in self.step.parameters else None
        plan = plan_container(self.run_kind(params), read_only_binds(self.step, params), gpus)
        self.image = plan.image
        self.docker_url = plan.docker_url
        self.network_mode = plan.network_mode
        self.mounts = plan.mounts
        self.device_requests = plan.device_requests
        self.shm_size = plan.shm_size
        self.ulimits = plan.ulimits
        if plan.tls:
            self.tls_ca_cert, self.tls_client_cert, self.tls_client_key = plan.tls
            self.tls_verify = True
        try:
            self.auto_remove = deployment.auto_remove()
        except ValueError as error:
            raise AirflowFailException(str(error)) from error
        # where the step runs, for messages that name the data root on both hosts (gpu-preflight)
        self.environment = dict(self.environment or {}, STT_HOST_DATA_DIR=plan.mounts[0]["Source"],
                                STT_TASK_HOST=socket.gethostname())
        self.container_name = container_name(ti.dag_id, ti.task_id, ti.run_id, ti.try_number)
        self.labels = container_labels(ti.dag_id, ti.task_id, ti.run_id, ti.try_number)
        self.require_image(plan.image_setting)
        self.remove_earlier_tries()
        self.log.info("running %s in %s as %s", " ".join(self.command), self.image, self.container_name)
        try:
            line = super().execute(context)
        except DockerContainerFailedException as error:
            failure = exit_failure(_status_code(error), self.task_id)
            if failure is None:
                raise
            raise failure from error
        return parse_result(line, self.task_id)

    def require_image(self, setting: str) -> None:
        """Fail at once, saying what to build, when the engine lacks the step's image.

        The provider would try to pull it, which the Docker API proxy refuses (and no registry has it):
        the likely cause is a GPU host where ``make images image-gpu`` was not run.
        """
        if not self.cli.images(name=self.image):
            raise AirflowFailException(
                "image {} is not on the Docker engine of {}: build it there (make images; make image-gpu for "
                "the GPU image) or set {} to an image it has".format(self.image, socket.gethostname(), setting))

    def remove_earlier_tries(self) -> None:
        """Kill and remove the containers this task left in this run on earlier tries.

        Found by label, so that a try whose task process died while its container kept running is
        stopped before this try writes the same files.
        """
        same_task = ["{}={}".format(key, value) for key, value in self.labels.items() if key != TRY_LABEL]
        for container in self.cli.containers(all=True, filters={"label": same_task}):
            name = (container.get("Names") or [container["Id"]])[0].lstrip("/")
            self.log.warning(
                "removing container %s (%s), left by an earlier try of this task", name, container.get("State")
            )
            try:
                self.cli.remove_container(container["Id"], force=True)
            except NotFound:  # it ended and was auto-removed meanwhile
                pass


def exit_failure(status: Optional[int], task_id: str) -> Optional[AirflowException]:
    """What a step's exit status tells Airflow, or None for a plain failure (retried as it is).

    A bad input (2) or a machine set up wrong (78) stays so: fail now instead of spending retries.
    A full disk (75) is retried after the task's delay, in case space was freed meanwhile.
    """
    if status == EXIT_BAD_INPUT:
        return AirflowFailException("step {} refused its input (exit {}); the task log names the file and the fix"
                                    .format(task_id, status))
    if status == EXIT_SETUP:
        return AirflowFailException("step {} cannot run on this machine as set up (exit {}: permissions or a missing "
                                    "tool); the task log names the file and the fix".format(task_id, status))
    if status == EXIT_TEMPFAIL:
        return AirflowException("step {}: the data root's file system is full (exit {}); the task log says how much "
                                "the step needs. Retried after the task's delay: free space meanwhile."
                                .format(task_id, status))
    return None


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
