"""The job host: one process per machine and metadata store that runs the
jobs submitted on this machine, each in a runner thread of its own.

Submitting a job starts the host when none runs (``ensure_job_host``); it
adopts the jobs waiting for it, and leaves once it has had nothing to do for
``job_host_idle_s``. It runs in a session of its own, so it outlives the
notebook kernel or shell that started it. Started as
``python -m mlnb.jobs.host`` with the submitter's settings in ``MLNB_*``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO

from mlnb.config import Settings
from mlnb.jobs.paths import HOST_MODULE

_POLL_S = 0.1
# Popen handles of hosts this process started, polled so that a host that
# left does not linger as a zombie while the submitter lives on.
_children: list[subprocess.Popen[bytes]] = []


def lock_path(settings: Settings) -> Path:
    """The lock a host holds while it runs: one per home and database."""
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    return settings.paths.run / f"jobhost-{digest}.lock"


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[IO[str] | None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_job_host(settings: Settings) -> None:
    """Start the job host for these settings unless one runs already."""
    _children[:] = [child for child in _children if child.poll() is None]
    with _try_lock(lock_path(settings)) as free:
        if free is None:
            return
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")} | settings.to_env()
    run = settings.paths.run
    with open(run / "jobhost.log", "ab") as output:
        _children.append(
            subprocess.Popen(
                [sys.executable, "-m", HOST_MODULE],
                env=env,
                cwd=run,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )


class JobHost:
    """Adopts this machine's queued jobs and runs each in a runner thread."""

    def __init__(self, settings: Settings) -> None:
        from mlnb.jobs.service import JobService
        from mlnb.store import Database

        self.settings = settings
        self.service = JobService(
            Database(settings.database_url, settings.busy_timeout_s), settings.job_dead_after_s
        )
        self.stopping = threading.Event()
        self.runners: dict[tuple[str, str], threading.Thread] = {}

    def serve(self) -> None:
        """Run until idle for ``job_host_idle_s``, or until stopped."""
        idle_since = time.monotonic()
        while not self.stopping.is_set():
            self._adopt()
            self.runners = {key: t for key, t in self.runners.items() if t.is_alive()}
            if self.runners:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > self.settings.job_host_idle_s:
                return
            time.sleep(_POLL_S)
        for thread in self.runners.values():
            thread.join(timeout=self.settings.cancel_grace_s + 10)

    def _adopt(self) -> None:
        from mlnb.jobs.runner import Runner

        for job in self.service.adopt(os.getpid()):
            runner = Runner(self.settings, self.service, job.project, job.job_id, self.stopping)
            thread = threading.Thread(target=runner.run, name=f"runner-{job.job_id}", daemon=True)
            self.runners[(job.project, job.job_id)] = thread
            thread.start()

    def leftover(self) -> bool:
        """Whether jobs still wait for a host (submitted as this one left)."""
        return bool(self.service.waiting_for_host())


def main() -> int:
    settings = Settings.resolve()
    path = lock_path(settings)
    with _try_lock(path) as held:
        if held is None:
            return 0  # another host runs: it adopts the jobs
        host = JobHost(settings)

        def stop(_number: int, _frame: FrameType | None) -> None:
            host.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        host.serve()
    # A job submitted just as the lock was let go finds no host: start one.
    if not host.stopping.is_set() and host.leftover():
        ensure_job_host(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
