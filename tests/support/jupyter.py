"""A real Jupyter server (``jupyter server`` or ``jupyter lab``) for the
sidebar's tests: 127.0.0.1, a token, Jupyter folders and an mlnb home of
its own."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.rest_server import free_port


@dataclass
class Jupyter:
    url: str
    token: str
    root: Path
    home: Path
    log: Path

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"token {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            e.close()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")


def cli(lab: Jupyter, *args: str) -> str:
    """``mlnb ARGS`` on the Jupyter server's own mlnb home; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "mlnb", *args],
        env=jupyter_env(lab.root, lab.home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def jupyter_env(root: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLNB_", "JUPYTER"))}
    env |= {
        "MLNB_HOME": str(home),
        "MLNB_JOB_HEARTBEAT_S": "0.2",
        "MLNB_JOB_HOST_IDLE_S": "5",
        "MLNB_CANCEL_GRACE_S": "1",
        "JUPYTER_CONFIG_DIR": str(root / ".jupyter" / "config"),
        "JUPYTER_DATA_DIR": str(root / ".jupyter" / "data"),
        "JUPYTER_RUNTIME_DIR": str(root / ".jupyter" / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    return env


@contextmanager
def running_jupyter(root: Path, app: str = "jupyter_server") -> Iterator[Jupyter]:
    """``python -m jupyter_server`` (or ``jupyterlab``) until the block ends."""
    home = root / "mlnb-home"
    port = free_port()
    token = secrets.token_hex(16)
    log = root / f"{app}.log"
    command = [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, env=jupyter_env(root, home), cwd=root, stdout=output, stderr=subprocess.STDOUT
        )
    jupyter = Jupyter(f"http://127.0.0.1:{port}", token, root, home, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if jupyter.call("GET", "/api/status")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield jupyter
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
