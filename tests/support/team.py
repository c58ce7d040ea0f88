"""Machines of a team on one test machine: each has its own mlnb home and
machine id, they share the metadata database and the artifact root, and a
job service (``mlnb jobs host``) runs as a process of its own.

Where the tests run as root and Linux mount namespaces work, a job host
sees nothing of the test's folder but its own home, the shared database's
folder and the shared artifact root: a file another "machine" wrote (a
trainer package, a notebook, a log) is not on its disk, as on a real team.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from mlnb.config import Settings
from support.waiting import wait_for

SHARED = ("shared-db", "shared-artifacts")


def shared_database(root: Path) -> str:
    """A SQLite URL in the folder every machine of ``root`` shares."""
    folder = root / "shared-db"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'team.db'}"


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
        command = [sys.executable, "-m", "mlnb", "jobs", "host"]
        self.isolated = mount_namespaces_work()
        if self.isolated:
            _check_visible(Path(settings.home).parent, settings.database_url)
            command = _alone(Path(settings.home), command)
        self.process = subprocess.Popen(
            command,
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


@functools.cache
def mount_namespaces_work() -> bool:
    """Whether this process may hide folders with ``unshare -m`` (root, and
    a kernel and container that allow it)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


def _check_visible(root: Path, database_url: str) -> None:
    """Refuse a SQLite file that the host's namespace would hide: the host
    would make an empty database of its own there and wait for jobs that
    never come."""
    if not database_url.startswith("sqlite:///"):
        return
    path = Path(database_url.removeprefix("sqlite:///")).resolve()
    if path.is_relative_to(root.resolve()) and not path.is_relative_to((root / SHARED[0]).resolve()):
        raise ValueError(f"{path} is hidden from a job host's machine: use shared_database({str(root)!r})")


def _alone(home: Path, command: list[str]) -> list[str]:
    """``command`` in a mount namespace where the test's folder (the parent
    of ``home``) holds only ``home`` and the shared folders: the folder is
    bound aside, an empty tmpfs mounted over it, the kept ones bound back,
    and the aside mount dropped."""
    root = home.parent
    kept = [home.name, *SHARED]
    for name in kept:
        (root / name).mkdir(parents=True, exist_ok=True)
    # The aside folder is made and removed inside the namespace, so that a
    # host leaves nothing behind in the temporary folder.
    script = [
        "set -e",
        'aside="$(mktemp -d -t mlnb-machine-XXXXXX)"',
        f'mount --bind {shlex.quote(str(root))} "$aside"',
        f"mount -t tmpfs none {shlex.quote(str(root))}",
    ]
    for name in kept:
        inside = shlex.quote(str(root / name))
        script += [f"mkdir -p {inside}", f'mount --bind "$aside"/{shlex.quote(name)} {inside}']
    script += ['umount "$aside"', 'rmdir "$aside"', 'exec "$@"']
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(script), "machine", *command]
