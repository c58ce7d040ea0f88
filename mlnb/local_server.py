"""A REST server started in the background for this machine's notebooks
(``%ml server start``, the JupyterLab sidebar): one per mlnb home, found
again by any process through a small state file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, InvalidArgument, MlnbError, NotFound, Unavailable
from mlnb.runtime.processes import process_alive, signal_group

__all__ = ["LocalServer", "answers_http", "process_alive", "start_service", "stop_service"]

_START_TIMEOUT_S = 60.0


class LocalServer:
    """The background ``mlnb server`` of one home."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_path = settings.paths.run / "server.json"
        self.log_path = settings.paths.run / "server.log"

    def status(self) -> dict[str, Any] | None:
        """``{"url", "host", "port", "workers", "pid", "startTime", "log"}``
        of the running server, or ``None`` (a state file left by a server
        that died is removed)."""
        try:
            state: dict[str, Any] = orjson.loads(self.state_path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        if not process_alive(int(state["pid"])):
            self.state_path.unlink(missing_ok=True)
            return None
        return state

    def start(self, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> dict[str, Any]:
        """Start ``mlnb server`` and wait until it is ready (``/readyz``: the
        versions to keep loaded and every default are loaded).

        Raises:
            InvalidArgument: A port outside 1 to 65535.
            FailedPrecondition: One runs already for this home.
            Unavailable: It did not answer in time (its log's end is in the message).
        """
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidArgument(f"port must be 1 to 65535, got {port!r}")
        running = self.status()
        if running is not None:
            raise FailedPrecondition(
                f"An mlnb server runs already at {running['url']} (pid {running['pid']})"
            )
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")} | self.settings.to_env()
        command = [sys.executable, "-m", "mlnb", "server", "--host", host, "--port", str(port)]
        command += ["--workers", str(workers)]
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        pid = start_service(command, self.log_path, f"{url}/readyz", "The mlnb server", env)
        state = {
            "url": url,
            "host": host,
            "port": port,
            "workers": workers,
            "pid": pid,
            "startTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "log": str(self.log_path),
        }
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(state))
        temporary.replace(self.state_path)
        return state

    def predict(
        self,
        model: str,
        instances: list[Any],
        *,
        version: str | None = None,
        signature_name: str | None = None,
        parameters: dict[str, Any] | None = None,
        project: str | None = None,
    ) -> list[Any] | None:
        """Predict through the running server, whose models are warm (a
        fresh process would spend seconds importing the framework);
        ``None`` when no server runs for this home, or it needs a token.

        Raises:
            MlnbError: The server's answer, as the Engine would raise it.
        """
        state = self.status()
        if state is None or self.settings.tokens:
            return None
        path = f"/v1/projects/{self.settings.project_of(project)}/models/{model}"
        if version:
            path += f"/versions/{version}"
        body: dict[str, Any] = {**(parameters or {}), "instances": instances}
        if signature_name:
            body["signature_name"] = signature_name
        request = urllib.request.Request(  # noqa: S310 - our own server's URL
            f"{state['url']}{path}:predict",
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - our own URL
                answer: dict[str, Any] = orjson.loads(response.read())
        except urllib.error.HTTPError as e:
            raise _error_of(e) from None
        except (urllib.error.URLError, OSError):
            return None  # it went away meanwhile: the caller predicts itself
        return list(answer["predictions"])

    def stop(self, grace_s: float = 10.0) -> dict[str, Any]:
        """Stop the running server: SIGTERM, SIGKILL after ``grace_s``.

        Raises:
            FailedPrecondition: None runs.
        """
        state = self.status()
        if state is None:
            raise FailedPrecondition("No mlnb server is running for this home")
        stop_service(int(state["pid"]), grace_s)
        self.state_path.unlink(missing_ok=True)
        return state


# The services this process started: kept so that they are reaped when
# stopped, and not reported as leaked while they run on purpose.
_children: dict[int, subprocess.Popen[bytes]] = {}


def start_service(
    command: list[str], log_path: Path, health_url: str, what: str, env: dict[str, str] | None = None
) -> int:
    """Start a process that outlives this one (its own session, output to
    ``log_path``) and wait until ``health_url`` answers; returns its pid.

    Raises:
        Unavailable: It exited or did not answer in time; the message ends
            with the last lines of its log.
    """
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not answers_http(health_url):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise Unavailable(f"{what} did not start ({health_url}): " + " | ".join(tail))
        time.sleep(0.1)
    _children[process.pid] = process
    return process.pid


def stop_service(pid: int, grace_s: float) -> None:
    """Stop a process started by ``start_service`` (here or in another
    process): SIGTERM to its session, SIGKILL after ``grace_s``."""
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_alive(pid):
        signal_group(pid, signal.SIGKILL)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()


def answers_http(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _error_of(error: urllib.error.HTTPError) -> MlnbError:
    """The server's Google error body as the Engine's error."""
    try:
        body = orjson.loads(error.read())["error"]
        message, status = str(body["message"]), str(body.get("status", ""))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message, status = f"The mlnb server answered {error.code}", ""
    finally:
        error.close()
    kinds: dict[str, type[MlnbError]] = {
        "INVALID_ARGUMENT": InvalidArgument,
        "NOT_FOUND": NotFound,
        "FAILED_PRECONDITION": FailedPrecondition,
    }
    return kinds.get(status, MlnbError)(message)
