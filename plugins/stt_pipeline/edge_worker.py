"""The GPU host's Edge worker, started only once it can work: ``python3 edge_worker.py <airflow edge worker args>``.

``airflow edge worker`` alone meets a wrong setting badly: an unreachable API server costs five minutes
of retries and then a traceback, a wrong shared secret ends in "403, message='Forbidden'" and an API
server without the Edge API in "please set [edge] api_enabled=True". Before handing over to it
(``exec``, so that it gets the container's signals), this checks the three things a GPU host's settings
decide and ends with one line naming the setting to fix (exit 78, EX_CONFIG) when one is wrong:

1. the API server answers at ``STT_API_URL`` (retried for ``STT_API_WAIT_SECONDS``, 30 by default: the
   Airflow host may be starting too);
2. it serves the Edge worker API (its unauthenticated ``health`` endpoint);
3. it accepts this worker's signature: a registration request signed like the worker's own (the same
   JWT generator and secret) but with an empty body, which the API refuses with 403 on a wrong secret
   and with 422 (the body) on a right one, registering nothing.

Docker's restart policy then starts the container again, which checks again: a fixed ``.env`` needs no
other step. Runs in the Airflow image; imports nothing of the pipeline (the plugin manager may import
this file: nothing happens then).

A PID file the worker left when it was killed is removed before the hand-over: ``airflow edge worker``
refuses to start when the file holds its own PID, and in a restarted container it always does (both
are PID 1).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import List, Optional, Tuple
from urllib.parse import urljoin

EXIT_SETUP = 78
PREFIX = "gpu-worker: "
#: a worker name only for the signature probe: the API refuses the empty body before looking it up
PROBE_WORKER = "stt-signature-probe"


class WorkerSetupError(Exception):
    """A setting of the GPU host is wrong; the message says which and how to fix it."""


def _call(method: str, url: str, headers: Optional[dict] = None, body: Optional[bytes] = None,
          timeout: float = 10) -> Tuple[int, str]:
    """(status, body) of one HTTP request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", error)
    return str(reason) or type(reason).__name__


def check_reachable(api_url: str, wait_seconds: float) -> None:
    """The Edge API's health endpoint answers 200 (retried until ``wait_seconds`` have passed)."""
    health = urljoin(api_url, "health")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            status, text = _call("GET", health)
            break
        except (urllib.error.URLError, OSError, socket.timeout) as error:
            if time.monotonic() >= deadline:
                raise WorkerSetupError(
                    "cannot reach the Airflow API server at {} ({}) after {:.0f} s: check STT_API_URL and that this "
                    "host can connect out to it (HTTPS, README \"GPU\")".format(api_url, _reason(error), wait_seconds)
                ) from None
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    if status != 200 or not _is_healthy(text):
        raise _no_edge_api(api_url, status, health)


def _is_healthy(text: str) -> bool:
    """The Edge API's health answer (the web UI answers unknown paths with its page and 200)."""
    try:
        return json.loads(text).get("status") == "healthy"
    except (ValueError, AttributeError):
        return False


def _no_edge_api(api_url: str, status: int, url: str) -> WorkerSetupError:
    return WorkerSetupError(
        "{} answers but serves no Edge worker API (HTTP {} for {}): on the Airflow host set "
        "STT_EDGE_API_ENABLED=True and AIRFLOW_EXECUTOR=LocalExecutor,airflow.providers.edge3.executors."
        "EdgeExecutor in .env, or correct STT_API_URL (the API server's address, without a path)".format(
            api_url, status, url))


def check_signature(api_url: str, secret: str) -> None:
    """The API server accepts requests signed with ``secret`` (see the module's docstring)."""
    from airflow.api_fastapi.auth.tokens import JWTGenerator

    method = "worker/" + PROBE_WORKER
    token = JWTGenerator(secret_key=secret, valid_for=30, audience="api").generate({"method": method})
    status, body = _call("POST", urljoin(api_url, method), body=b"{}",
                         headers={"Content-Type": "application/json", "Authorization": token})
    if status == 403:
        raise WorkerSetupError(
            "the Airflow API server at {} refused this worker's signature: AIRFLOW_JWT_SECRET here is not the "
            "Airflow host's (AIRFLOW_JWT_SECRET in its .env); set the same value on both hosts (clocks more than "
            "30 s apart are refused too)".format(api_url))
    if status in (404, 405):
        raise _no_edge_api(api_url, status, urljoin(api_url, method))
    if status != 422:  # 422: the signature passed and only the (deliberately empty) body was refused
        raise WorkerSetupError("unexpected answer of the Edge worker API at {} to a signed request (HTTP {}: {})"
                               .format(api_url, status, body[:200]))


def check(api_url: str, secret: str, wait_seconds: float) -> None:
    if not api_url:
        raise WorkerSetupError("no API server configured: set STT_API_URL (for example https://airflow.example.org)")
    if not secret:
        raise WorkerSetupError("AIRFLOW_JWT_SECRET is empty: set the Airflow host's (its .env)")
    api_url = api_url.rstrip("/") + "/"
    check_reachable(api_url, wait_seconds)
    check_signature(api_url, secret)


def forget_stale_pid_file() -> None:
    """Remove the worker's PID file (default location) that a killed worker of this container left.

    Safe because this is the container's main process: no other worker runs beside it.
    """
    from airflow.providers.edge3.cli.signalling import pid_file_path

    path = pid_file_path(None)
    if os.path.exists(path):
        print(PREFIX + "removing {}, left by a worker that did not stop cleanly".format(path), flush=True)
        os.remove(path)


def main(argv: List[str]) -> int:
    from airflow.configuration import conf

    api_url = conf.get("edge", "api_url", fallback="") or ""
    # the worker's own routes are under .../edge_worker/v1/rpcapi's parent
    api_url = api_url.rstrip("/")
    api_url = api_url[: -len("rpcapi")] if api_url.endswith("/rpcapi") else api_url
    try:
        check(api_url, conf.get("api_auth", "jwt_secret", fallback="") or "",
              float(os.environ.get("STT_API_WAIT_SECONDS") or 30))
    except WorkerSetupError as error:
        print(PREFIX + str(error), file=sys.stderr, flush=True)
        return EXIT_SETUP
    print(PREFIX + "the API server at {} accepts this worker: starting it".format(api_url), flush=True)
    forget_stale_pid_file()
    os.execvp("airflow", ["airflow", "edge", "worker"] + argv)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
