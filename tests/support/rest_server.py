"""A real uvicorn serving mlnb on 127.0.0.1 for the tests, and plain-HTTP
calls to it."""

from __future__ import annotations

import contextlib
import gc
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from mlnb.config import Settings
from mlnb.runtime.ports import free_port
from mlnb.server import create_app


def serve(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    finalize_client_sockets()


def finalize_client_sockets() -> None:
    # httplib2, under the official client, drops a keep-alive socket unclosed when
    # it reconnects after the server closed an idle connection: finalize such
    # sockets here, where that is known and harmless, not in a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def call_http(
    server: str, method: str, path: str, body: Any = None, raw: bytes | None = None, token: str | None = None
) -> tuple[int, Any]:
    status, answer, _ = exchange(server, method, path, body, raw, token)
    return status, answer


def exchange(
    server: str,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One request: the status, the JSON answer and the response's headers (lower-case names)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(server.removeprefix("http://"), timeout=30)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        content = response.read()
    finally:
        connection.close()
    answer = json.loads(content) if content else None
    return response.status, answer, {k.lower(): v for k, v in response.getheaders()}


def fetch_text(server: str, path: str) -> str:
    connection = http.client.HTTPConnection(server.removeprefix("http://"), timeout=30)
    try:
        connection.request("GET", path)
        return connection.getresponse().read().decode()
    finally:
        connection.close()


@contextlib.contextmanager
def running_server(home: Path, workers: int) -> Iterator[int]:
    """``mlnb server --workers N`` as a real command; yields its port once it answers."""
    port = free_port()
    env = {**os.environ, "MLNB_HOME": str(home)}
    command = [
        str(Path(sys.executable).parent / "mlnb"),
        "server",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch_text(f"http://127.0.0.1:{port}", "/healthz")
                break
            except OSError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield port
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        assert server.stderr is not None
        server.stderr.close()
