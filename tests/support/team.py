"""Machines of a team on one test machine: each has its own mlnb home and
machine id, they share the metadata database and the artifact root, and a
job service (``mlnb jobs host``) runs as a process of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from mlnb.config import Settings
from support.waiting import wait_for


def machine(root: Path, name: str, database_url: str, **overrides: Any) -> Settings:
    """The settings of machine ``name``: a home under ``root/name``."""
    home = root / name
    home.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "home": str(home),
        "database_url": database_url,
        "artifact_root": str(root / "shared-artifacts"),
        "machine_id": name,
        "actor": name,
        "job_heartbeat_s": 0.2,
        # Generous: a host on a loaded machine may take seconds to start.
        "job_dead_after_s": 30.0,
        "job_host_idle_s": 3.0,
        "cancel_grace_s": 1.0,
        "max_running_jobs": 4,
    }
    return Settings.resolve(env={}, **(values | overrides))


class ServiceHost:
    """``mlnb jobs host`` for one machine, in a session of its own, its
    output collected."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")} | settings.to_env()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlnb", "jobs", "host"],
            env=env,
            cwd=settings.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(
            lambda: any("taking the team's jobs" in line for line in self.lines), "the job host to start"
        )

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL of its whole session if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # anything its jobs left in its session
        self._reader.join(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()
