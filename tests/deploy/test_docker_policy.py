"""The Docker API proxy's policy attacked for real: the proxy image alone, on the host's engine.

The proxy listens on a unix socket in a temporary folder (no TCP port); the tests talk to it over
AF_UNIX, some in raw HTTP. Every attack must get 403 with the proxy's reason and create no
container (each body carries a label of this run, looked for with ``docker ps -a``); the pipeline's
own containers, built with the real ``plan_container`` and docker-py's request, must pass.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

PROXY_IMAGE = os.environ.get("DOCKER_PROXY_IMAGE", "stt-docker-proxy")
CPU_IMAGE = os.environ.get("STT_CPU_IMAGE", "stt-tasks-cpu")
RUN_LABEL = "stt.policy-test"
RUN = uuid.uuid4().hex[:12]


def _present(image: str) -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not (_present(PROXY_IMAGE) and _present(CPU_IMAGE)) and not os.environ.get("CI"),
    reason="needs the images {} and {} (make images-ci)".format(PROXY_IMAGE, CPU_IMAGE))


class Proxy:
    """A running proxy container and the host folders its policy allows."""

    def __init__(self, root: Path, gpu: bool) -> None:
        self.folder = root / "socket"
        self.data_dir = root / "data"
        self.transfer_root = root / "checkpoints"
        for folder in (self.folder, self.data_dir, self.transfer_root / "en"):
            folder.mkdir(parents=True)
        self.socket = str(self.folder / "docker.sock")
        self.env = {
            "STT_HOST_DATA_DIR": str(self.data_dir),
            "STT_CPU_IMAGE": CPU_IMAGE,
            # the GPU image must exist for creation to succeed here: the CPU image stands in for it
            "STT_GPU_IMAGE": CPU_IMAGE if gpu else "stt-tasks-gpu",
            "STT_GPU_ENABLED": "true" if gpu else "false",
            "STT_TRANSFER_ROOTS": "/srv/no-such-root:" + str(self.transfer_root),
            "STT_SHM_SIZE": "8g",
            "STT_DOWNLOAD_NETWORK": "bridge",
        }
        env_args = [a for name, value in self.env.items() for a in ("-e", "{}={}".format(name, value))]
        self.container = subprocess.run(
            ["docker", "run", "-d", "--network", "none", "-e", "PROXY_SOCKET=/run/stt-docker-proxy/docker.sock",
             "-v", "{}:/run/stt-docker-proxy".format(self.folder), "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
             *env_args, PROXY_IMAGE], capture_output=True, text=True, check=True).stdout.strip()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if call(self, "GET", "/v1.41/_ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("proxy not ready: " + subprocess.run(["docker", "logs", self.container],
                                                                  capture_output=True, text=True).stderr[-3000:])

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.container], capture_output=True)


def _start(tmp_path_factory: Any, gpu: bool) -> Iterator[Proxy]:
    proxy = Proxy(tmp_path_factory.mktemp("gpu-proxy" if gpu else "proxy"), gpu)
    try:
        proxy.wait_ready()
        yield proxy
    finally:
        proxy.stop()
        for container in labelled():
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[Proxy]:
    yield from _start(tmp_path_factory, gpu=False)


@pytest.fixture(scope="module")
def gpu_proxy(tmp_path_factory) -> Iterator[Proxy]:
    yield from _start(tmp_path_factory, gpu=True)


def labelled() -> List[str]:
    """Containers of this test run (every body sent carries its label)."""
    return subprocess.run(["docker", "ps", "-aq", "--filter", "label={}={}".format(RUN_LABEL, RUN)],
                          capture_output=True, text=True, check=True).stdout.split()


# ---- HTTP over the unix socket ----

def request(method: str, path: str, body: Optional[bytes] = None, headers: Sequence[str] = (),
            close: bool = True) -> bytes:
    """One raw HTTP/1.1 request (with Content-Length when there is a body)."""
    lines = ["{} {} HTTP/1.1".format(method, path), "Host: docker"] + list(headers)
    if body is not None and not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append("Content-Length: {}".format(len(body)))
    if body is not None:
        lines.append("Content-Type: application/json")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def exchange(proxy: Proxy, raw: bytes, responses: int = 1) -> List[Tuple[int, str]]:
    """Send ``raw`` on one connection and read ``responses`` responses: (status, body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(30)
        conn.connect(proxy.socket)
        conn.sendall(raw)
        stream = conn.makefile("rb")
        results = []
        for _ in range(responses):
            status = int(stream.readline().split()[1])
            length = 0
            for line in iter(stream.readline, b"\r\n"):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            results.append((status, stream.read(length).decode(errors="replace")))
        return results


def call(proxy: Proxy, method: str, path: str, body: Any = None, headers: Sequence[str] = ()) -> Tuple[int, str]:
    """One request; ``body`` a dict (sent as JSON), bytes or None."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return exchange(proxy, request(method, path, data, headers))[0]


def assert_refused(result: Tuple[int, str], case: Any) -> None:
    status, message = result
    assert status == 403, (case, status, message)
    assert "refused by the stt docker-proxy" in message, (case, message)
    assert labelled() == [], ("a container was created", case)


# ---- the pipeline's own containers ----

def operator_body(kind: str, binds: Sequence[Tuple[str, str]] = (), gpus: Optional[str] = None) -> Dict[str, Any]:
    """The creation body the step operator sends: the real ``plan_container`` through docker-py,
    with the arguments DockerOperator 4.6.1 passes (``_run_image_with_mounts``)."""
    import docker
    from docker.types import LogConfig

    from stt_pipeline.step_operator import CONTAINER_USER, plan_container

    plan = plan_container(kind, binds, gpus)
    client = docker.APIClient(base_url="unix://var/run/docker.sock", version="1.41")
    host_config = client.create_host_config(
        auto_remove=False, mounts=plan.mounts, network_mode=plan.network_mode, shm_size=plan.shm_size, dns=None,
        dns_search=None, cpu_shares=1024, port_bindings={}, mem_limit=None, cap_add=None, extra_hosts=None,
        privileged=False, device_requests=plan.device_requests, log_config=LogConfig(config={}), ipc_mode=None,
        ulimits=plan.ulimits)
    return client.create_container_config(
        plan.image, ["params"], environment={"PYTHONUNBUFFERED": "1"}, ports=[], host_config=host_config,
        user=CONTAINER_USER, entrypoint=None, working_dir=None, tty=False, hostname=None,
        labels={RUN_LABEL: RUN, "stt.task_id": kind})


@pytest.fixture
def settings(proxy, monkeypatch) -> Proxy:
    """The Airflow side's deployment settings, the same as the proxy's."""
    for name, value in proxy.env.items():
        monkeypatch.setenv(name, value)
    return proxy


def create(proxy: Proxy, body: Any) -> Tuple[int, str]:
    return call(proxy, "POST", "/v1.41/containers/create?name=stt-policy-{}".format(uuid.uuid4().hex[:8]), body)


def assert_created(proxy: Proxy, body: Dict[str, Any]) -> None:
    status, message = create(proxy, body)
    if status == 404 and body["HostConfig"]["NetworkMode"] == "bridge":  # an engine without a bridge network
        assert "network bridge not found" in message, message
        return
    assert status == 201, (status, message)
    subprocess.run(["docker", "rm", "-f", json.loads(message)["Id"]], capture_output=True, check=True)


@pytest.mark.parametrize("kind,transfer", [("cpu", False), ("download", False), ("training", False),
                                           ("training", True)])
def test_the_pipelines_containers_pass(settings, kind, transfer):
    binds = [(str(settings.transfer_root / "en"), "/transfer-checkpoint")] if transfer else []
    assert_created(settings, operator_body(kind, binds))


def test_gpu_training_passes_where_gpus_are_enabled(gpu_proxy, monkeypatch):
    for name, value in gpu_proxy.env.items():
        monkeypatch.setenv(name, value)
    body = operator_body("training")
    assert body["HostConfig"]["DeviceRequests"] and body["HostConfig"]["Ulimits"]
    assert_created(gpu_proxy, body)
    assert_created(gpu_proxy, operator_body("cpu"))
    over = json.loads(json.dumps(body))
    over["HostConfig"]["Ulimits"][1]["Soft"] = 2 ** 40  # stack above NVIDIA's 64 MiB
    assert_refused(create(gpu_proxy, over), "ulimit over the configured one")


@pytest.mark.parametrize("gpus", ["all", "2", "0,2", "device=1"])
def test_every_gpus_value_passes_where_gpus_are_enabled(gpu_proxy, monkeypatch, gpus):
    for name, value in gpu_proxy.env.items():
        monkeypatch.setenv(name, value)
    assert_created(gpu_proxy, operator_body("training", gpus=gpus))


GPU_REQUEST_ATTACKS: Dict[str, Callable[[Dict[str, Any]], None]] = {
    "a count and ids": lambda request: request.update(Count=2, DeviceIDs=["0"]),
    "no GPU named": lambda request: request.update(Count=0, DeviceIDs=[]),
    "a count below -1": lambda request: request.update(Count=-2),
    "a device path": lambda request: request.update(Count=0, DeviceIDs=["../../dev/sda"]),
    "ids not strings": lambda request: request.update(Count=0, DeviceIDs=[0]),
    "another capability": lambda request: request.update(Capabilities=[["gpu", "compute", "utility", "display"]]),
    "driver options": lambda request: request.update(Options={"visible": "all"}),
    "two requests": None,
}


@pytest.mark.parametrize("case", sorted(GPU_REQUEST_ATTACKS))
def test_other_device_requests_are_refused_even_with_gpus_enabled(gpu_proxy, monkeypatch, case):
    for name, value in gpu_proxy.env.items():
        monkeypatch.setenv(name, value)
    body = operator_body("training", gpus="0,2")
    requests = body["HostConfig"]["DeviceRequests"]
    attack = GPU_REQUEST_ATTACKS[case]
    if attack is None:
        requests.append(dict(requests[0]))
    else:
        attack(requests[0])
    assert_refused(create(gpu_proxy, body), case)


def test_the_step_operator_runs_a_step_through_the_proxy(settings, monkeypatch):
    """SttStepOperator as Airflow runs it: version, ping, images, list, create, attach, start, wait, remove."""
    from stt_pipeline.step_operator import SttStepOperator, container_labels
    from stt_tasks.steps import find

    class TaskInstance:
        dag_id, task_id, run_id, try_number = "stt_fr_training", "preflight", "policy-" + RUN, 1

    monkeypatch.setenv("STT_DOCKER_URL", "unix://" + settings.socket)
    monkeypatch.setenv("STT_AUTO_REMOVE", "success")
    os.chmod(str(settings.data_dir), 0o777)
    operator = SttStepOperator(step=find("params"), language="fr", task_id="preflight")
    assert "parameters" in operator.execute({"params": {"stop_after": None}, "ti": TaskInstance()})
    labels = container_labels(TaskInstance.dag_id, TaskInstance.task_id, TaskInstance.run_id, 1)
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=stt.run_id=" + labels["stt.run_id"]],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == []  # removed on success, through the proxy


# ---- attacks on the creation body ----

def _mount(source: str, target: str = "/host", **extra: Any) -> Dict[str, Any]:
    return dict({"Type": "bind", "Source": source, "Target": target, "ReadOnly": False}, **extra)


def _with_mount(mount: Dict[str, Any]) -> Callable[[Dict[str, Any]], None]:
    return lambda body: body["HostConfig"]["Mounts"].append(mount)


def _set(path: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    def change(body: Dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = body
        for name in parents:
            target = target[name]
        target[last] = value
    return change


def _drop(name: str) -> Callable[[Dict[str, Any]], None]:
    return lambda body: body.pop(name)


def _data_root_is(source: str) -> Callable[[Dict[str, Any]], None]:
    return lambda body: body["HostConfig"]["Mounts"][0].update(Source=source)


def _lower_case_host_config(body: Dict[str, Any]) -> None:
    host = body.pop("HostConfig")
    host["mounts"] = host.pop("Mounts") + [_mount("/root")]
    body["hostconfig"] = host


HOST_FOLDERS = ["/etc", "/root", "/home", "/var/lib/docker", "/", "/./run", "/run/.", "/proc",
                "/var/run/docker.sock", "/run"]

BODY_ATTACKS: Dict[str, Callable[[Dict[str, Any]], None]] = dict(
    [("mount " + folder, _with_mount(_mount(folder))) for folder in HOST_FOLDERS]
    + [("data root is " + folder, _data_root_is(folder)) for folder in ("/etc", "/", "/root")]
    + [("user " + user, _set("User", user)) for user in ("0", "0:0", "root", "999", "999:0", "")]
    + [
        ("no user", _drop("User")),
        ("entrypoint override", _set("Entrypoint", ["sh", "-c"])),
        ("empty entrypoint (Cmd becomes the program)", _set("Entrypoint", [])),
        ("entrypoint as a string", _set("Entrypoint", "")),
        ("another image", _set("Image", "stt-airflow")),
        ("a base image", _set("Image", "local/debian-python:bookworm")),
        ("the image by another name", _set("Image", "docker.io/library/stt-tasks-cpu")),
        ("lower-case user", lambda body: body.update(user="root")),
        ("lower-case user only", lambda body: body.update(user=body.pop("User")) or body.update(user="0")),
        ("lower-case hostconfig with /root", _lower_case_host_config),
        ("network host", _set("HostConfig.NetworkMode", "host")),
        ("network of another container", _set("HostConfig.NetworkMode", "container:stt-airflow")),
        ("network default", _set("HostConfig.NetworkMode", "default")),
        ("no network mode", lambda body: body["HostConfig"].pop("NetworkMode")),
        ("networking config", _set("NetworkingConfig", {"EndpointsConfig": {"host": {}}})),
        ("pid host", _set("HostConfig.PidMode", "host")),
        ("ipc host", _set("HostConfig.IpcMode", "host")),
        ("uts host", _set("HostConfig.UTSMode", "host")),
        ("userns host", _set("HostConfig.UsernsMode", "host")),
        ("cgroupns host", _set("HostConfig.CgroupnsMode", "host")),
        ("privileged", _set("HostConfig.Privileged", True)),
        ("cap add", _set("HostConfig.CapAdd", ["SYS_ADMIN"])),
        ("devices", _set("HostConfig.Devices", [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda",
                                                   "CgroupPermissions": "rwm"}])),
        ("device cgroup rules", _set("HostConfig.DeviceCgroupRules", ["a *:* rwm"])),
        ("sysctls", _set("HostConfig.Sysctls", {"kernel.core_pattern": "|/tmp/x"})),
        ("security opt", _set("HostConfig.SecurityOpt", ["apparmor=unconfined", "seccomp=unconfined"])),
        ("binds", _set("HostConfig.Binds", ["/:/host"])),
        ("volumes from", _set("HostConfig.VolumesFrom", ["stt-airflow"])),
        ("tmpfs", _set("HostConfig.Tmpfs", {"/run": "rw,exec"})),
        ("port bindings", _set("HostConfig.PortBindings", {"22/tcp": [{"HostPort": "2222"}]})),
        ("extra hosts", _set("HostConfig.ExtraHosts", ["proxy:127.0.0.1"])),
        ("runtime", _set("HostConfig.Runtime", "runc")),
        ("log driver", _set("HostConfig.LogConfig", {"Type": "syslog", "Config": {"syslog-address": "udp://x:514"}})),
        ("mount propagation", lambda body: body["HostConfig"]["Mounts"][0].update(
            BindOptions={"Propagation": "rshared"})),
        ("volume mount", _with_mount({"Type": "volume", "Source": "stt-airflow-secrets", "Target": "/s"})),
        ("tmpfs mount", _with_mount({"Type": "tmpfs", "Target": "/s"})),
        ("second data mount", _with_mount(_mount("/tmp", "/mnt"))),
        ("transfer checkpoint outside the roots", _with_mount(_mount("/etc", "/transfer-checkpoint", ReadOnly=True))),
        ("transfer checkpoint beside the root, by prefix", lambda body: body["HostConfig"]["Mounts"].append(_mount(
            os.path.dirname(body["HostConfig"]["Mounts"][0]["Source"]) + "/checkpoints-evil", "/transfer-checkpoint",
            ReadOnly=True))),
        ("transfer checkpoint out of the root by ..", lambda body: body["HostConfig"]["Mounts"].append(_mount(
            os.path.dirname(body["HostConfig"]["Mounts"][0]["Source"]) + "/checkpoints/../../../etc",
            "/transfer-checkpoint", ReadOnly=True))),
        ("transfer checkpoint writable", lambda body: body["HostConfig"]["Mounts"].append(
            _mount(body["HostConfig"]["Mounts"][0]["Source"], "/transfer-checkpoint"))),
        ("device requests without GPUs enabled", _set("HostConfig.DeviceRequests", [
            {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}])),
        ("ulimits without GPUs enabled", _set("HostConfig.Ulimits", [{"Name": "memlock", "Soft": -1, "Hard": -1}])),
        ("shm over the setting", _set("HostConfig.ShmSize", 2 ** 40)),
        ("download network for a training step", lambda body: body["HostConfig"].update(
            NetworkMode="bridge", ShmSize=1024)),
        ("working dir", _set("WorkingDir", "/")),
        ("stdin open", _set("OpenStdin", True)),
        ("healthcheck", _set("Healthcheck", {"Test": ["CMD", "sh", "-c", "id"]})),
        ("not an object", lambda body: body.update(HostConfig=[])),
    ]
)


@pytest.mark.parametrize("case", sorted(BODY_ATTACKS))
def test_attack_body_is_refused(settings, case):
    body = operator_body("cpu")
    BODY_ATTACKS[case](body)
    assert_refused(create(settings, body), case)


def _text_attacks(settings: Proxy) -> Dict[str, bytes]:
    """Attacks that JSON of Python's making cannot spell: duplicates, escapes, folded keys."""
    body = json.dumps(operator_body("cpu"))
    host = '"HostConfig": {'
    assert body.count('"User": "999:999"') == 1 and body.count(host) == 1
    etc = '{"Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/host"}]}'
    return {
        "duplicated User": body.replace('"User": "999:999"', '"User": "999:999", "User": "0:0"'),
        "duplicated user of another case": body.replace('"User": "999:999"', '"User": "999:999", "USER": "0:0"'),
        "duplicated HostConfig (Go merges them)": body.replace(host, '"HostConfig": {"Privileged": true}, ' + host),
        "duplicated label": body.replace('"Labels": {', '"Labels": {"a": "1", "a": "2", '),
        "escaped key \\u0055ser": body.replace('"User": "999:999"', '"User": "999:999", "\\u0055ser": "0"'),
        "escaped key \\u0048ostConfig": body.replace(host, '"\\u0048ostConfig": ' + etc + ', ' + host),
        "escaped source": body.replace('"Source": "', '"Source": "\\u002fetc", "x": "'),
        "Kelvin sign in NetworkMode": body.replace('"NetworkMode": "none"', '"NetworkMode": "none", "Networ\\u212aMode": "host"'),
        "long s in SecurityOpt": body.replace(host, host + '"\\u017fecurityOpt": ["seccomp=unconfined"], '),
        "a second JSON value": body + ' {"HostConfig": ' + etc + '}',
        "not JSON": body[:-1],
        "NaN": body.replace('"CpuShares": 1024', '"CpuShares": NaN'),
    }


def test_attack_text_is_refused(settings):
    attacks = _text_attacks(settings)
    for case, body in attacks.items():
        assert_refused(create(settings, body.encode()), case)
    assert len(attacks) >= 12


# ---- attacks on the requests ----

ABSENT = "stt-no-such-container"
REQUEST_ATTACKS = [
    ("POST", "/v1.41/containers/{}/exec".format(ABSENT), b'{"Cmd": ["id"]}'),
    ("POST", "/v1.41/exec/{}/start".format(ABSENT), b"{}"),
    ("GET", "/v1.41/containers/{}/archive?path=/".format(ABSENT), None),
    ("PUT", "/v1.41/containers/{}/archive?path=/".format(ABSENT), b"x"),
    ("GET", "/v1.41/containers/{}/export".format(ABSENT), None),
    ("POST", "/v1.41/build", b""),
    ("POST", "/v1.41/images/create?fromImage=stt-no-such-image&tag=latest", None),
    ("DELETE", "/v1.41/images/stt-no-such-image", None),
    ("POST", "/v1.41/containers/{}/update".format(ABSENT), b'{"Privileged": true}'),
    ("POST", "/v1.41/containers/prune?filters=%7B%22label%22%3A%5B%22stt.none%22%5D%7D", None),
    ("POST", "/v1.41/volumes/create", b"{}"),
    ("GET", "/v1.41/info", None),
    ("GET", "/v1.41/events", None),
    ("POST", "/v1.41/containers%2fcreate", b"{}"),
    ("POST", "/v1.41/containers/create%3Fname=x", b"{}"),
    ("GET", "/v1.41/exec/..", None),
    ("GET", "/v1.41/containers/../info", None),
    ("GET", "/v1.41/containers/%2e%2e/build", None),
    ("POST", "//v1.41/containers/create", b"{}"),
    ("GET", "/v1.41/containers/json", None),  # a list not filtered by labels
    ("POST", "/v1.23/containers/{}/start".format(ABSENT), b'{"Binds": ["/:/host"], "Privileged": true}'),
    ("POST", "/v1.41/containers/{}/start".format(ABSENT), b'{"Privileged": true}'),
    ("POST", "/v1.23/containers/create", b"{}"),
    ("POST", "/containers/create", b"{}"),
    ("POST", "/v1.41/containers/create?name=x&platform=linux", b"{}"),
    ("POST", "/v1.41/swarm/init", b"{}"),
    ("POST", "/v1.41/plugins/pull?remote=x", b"[]"),
    ("GET", "/v1.41/containers/{}/attach/ws".format(ABSENT), None),
    ("POST", "/v1.41/containers/{}/copy".format(ABSENT), b'{"Resource": "/"}'),
    ("POST", "/v1.41/commit?container={}".format(ABSENT), b"{}"),
]


@pytest.mark.parametrize("method,path,body", REQUEST_ATTACKS, ids=["{} {}".format(m, p) for m, p, _ in REQUEST_ATTACKS])
def test_attack_request_is_refused(proxy, method, path, body):
    assert_refused(call(proxy, method, path, body), (method, path))


def test_chunked_and_oversized_bodies_are_refused(settings):
    body = json.dumps(operator_body("cpu")).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert_refused(call(settings, "POST", "/v1.41/containers/create", chunked, ["Transfer-Encoding: chunked"]),
                   "chunked")
    padded = operator_body("cpu")
    padded["Labels"]["padding"] = "x" * 40000
    assert_refused(create(settings, padded), "oversized")


def test_a_request_smuggled_on_a_kept_alive_connection_is_refused(settings):
    bad = json.dumps(dict(operator_body("cpu"), User="0")).encode()
    # an allowed call, then a refused one, on one connection in one write
    raw = request("GET", "/v1.41/_ping", close=False) + request("POST", "/v1.41/containers/create", bad)
    first, second = exchange(settings, raw, responses=2)
    assert first[0] == 200 and second[0] == 403 and "User" in second[1], (first, second)
    # a body that is a request: the call takes no body, so it is refused whole
    inner = request("POST", "/v1.41/containers/create", bad)
    smuggling = request("POST", "/v1.41/containers/{}/start".format(ABSENT), inner, close=False)
    assert exchange(settings, smuggling)[0][0] == 403
    # a Content-Length too short for the body: the rest is the next request, checked on its own
    good = json.dumps(operator_body("cpu")).encode()
    short = request("POST", "/v1.41/containers/create", good + inner, close=False).replace(
        b"Content-Length: %d" % (len(good) + len(inner)), b"Content-Length: %d" % len(good))
    created, refused = exchange(settings, short, responses=2)
    assert created[0] == 201 and refused[0] == 403, (created, refused)
    subprocess.run(["docker", "rm", "-f", json.loads(created[1])["Id"]], capture_output=True, check=True)
    assert labelled() == []


def test_the_socket_is_the_only_way_in(proxy):
    mode = os.stat(proxy.socket)
    assert oct(mode.st_mode & 0o777) == "0o660" and mode.st_gid == 0
    inspected = json.loads(subprocess.run(["docker", "inspect", proxy.container], capture_output=True, text=True,
                                          check=True).stdout)[0]
    assert inspected["HostConfig"]["NetworkMode"] == "none" and not inspected["NetworkSettings"]["Ports"]
