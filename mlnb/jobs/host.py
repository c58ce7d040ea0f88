"""Job hosts: processes that claim queued jobs from the metadata store and
run each in a runner thread of their own, holding it by a lease.

Two sorts, one class:

- the *on-demand* host of a machine (``job_host = "auto"``, the default):
  submitting a job starts it when none runs (``ensure_job_host``); it takes
  the jobs submitted on its machine, and leaves once it has had nothing to
  do for ``job_host_idle_s`` (and its machine has no active schedule). It
  runs in a session of its own, so it outlives the notebook kernel or shell
  that started it. Started as ``python -m mlnb.job_host`` with the
  submitter's settings in ``MLNB_*``.
- a *job service* (``mlnb jobs host``, on any machine that shares the
  database): it takes the team's queue (jobs submitted with ``job_host =
  "service"``) and its own machine's, at most ``host_max_jobs`` at once,
  and runs until stopped. Any number of them may run.

Every host has an identity of its own, so that two hosts of one machine, or
a host and its successor, are never taken for one another. Every host also
fires the due runs of its queues' schedules (``ScheduleFiring``, given by
the engine that starts it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Protocol

from mlnb.config import Settings
from mlnb.jobs.paths import HOST_MODULE

_POLL_S = 0.1
# How often a host looks for due schedule runs: a run fires at most this
# late (plus the time to submit its job).
_SCHEDULE_POLL_S = 0.5
# How often an on-demand host checks that its home still exists.
_HOME_CHECK_S = 2.0
# Popen handles of hosts this process started, polled so that a host that
# left does not linger as a zombie while the submitter lives on.
_children: list[subprocess.Popen[bytes]] = []


def lock_path(settings: Settings) -> Path:
    """The lock a host holds while it runs: one per home and database."""
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    return settings.paths.run / f"jobhost-{digest}.lock"


class ScheduleFiring(Protocol):
    """What a job host asks of the schedules (``mlnb.schedules_api``)."""

    def fire_due(self, queues: list[str]) -> list[str]:
        """Fire the due runs of ``queues``' schedules; what was done."""
        ...

    def any_active(self, queues: list[str]) -> bool:
        """Whether ``queues`` have an active schedule."""
        ...


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[IO[str] | None]:
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
    """Start this machine's on-demand job host for these settings unless
    one runs already, or the team's job hosts run the jobs."""
    if settings.job_host != "auto":
        return
    _children[:] = [child for child in _children if child.poll() is None]
    with try_lock(lock_path(settings)) as free:
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


def _held_folder(folder: Path) -> int | None:
    """A descriptor of ``folder``, held open to tell later whether it was
    deleted (``None`` when it cannot be opened)."""
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None


def new_host_id() -> str:
    """``host-<random>@<hostname>``: unique to one host process, readable in
    messages."""
    return f"host-{uuid.uuid4().hex[:10]}@{socket.gethostname()}"


class JobHost:
    """Claims queued jobs and runs each in a runner thread.

    Args:
        settings: The settings the host and its jobs run with.
        service: Take the team's queue too, at most ``host_max_jobs`` jobs
            at once, and never leave for idleness (``mlnb jobs host``).
        schedules: Fires the due runs of the host's queues' schedules.
    """

    def __init__(
        self, settings: Settings, service: bool = False, schedules: ScheduleFiring | None = None
    ) -> None:
        from mlnb.jobs.service import TEAM_QUEUE, JobService, machine_queue
        from mlnb.store import Database

        self.settings = settings
        self.is_service = service
        self.host_id = new_host_id()
        self.service = JobService(
            Database(settings.database_url, settings.busy_timeout_s),
            settings.job_dead_after_s,
            settings.machine_id,
            settings=settings,
        )
        own = machine_queue(settings.machine_id)
        self.queues = [TEAM_QUEUE, own] if service else [own]
        # Draining: no new job, the ones not started handed back; stopping:
        # the running ones stopped too.
        self.draining = threading.Event()
        self.stopping = threading.Event()
        self.runners: dict[tuple[str, str], threading.Thread] = {}
        self.jobs_taken = 0
        self._last_reap = 0.0
        self._last_watch = time.monotonic()
        self.schedules = schedules
        self._last_schedules = 0.0
        self._last_active_check = 0.0
        self._schedules_active = False
        self._last_home_check = time.monotonic()
        self._run_folder = _held_folder(settings.paths.run)

    def serve(self) -> None:
        """Run until stopped; an on-demand host also leaves once idle for
        ``job_host_idle_s``."""
        self._warm_up()
        idle_since = time.monotonic()
        drain_until: float | None = None
        while not self.stopping.is_set():
            if self._home_gone():
                print(
                    f"{self.host_id}: its home's run folder {self.settings.paths.run} is gone: leaving",
                    flush=True,
                )
                self.stopping.set()
                break
            self._reap()
            self._watch()
            if self.draining.is_set():
                drain_until = drain_until or self._start_draining()
                if not self.runners or time.monotonic() > drain_until:
                    self.stopping.set()
            else:
                self._fire_schedules()
                self._claim()
            self.runners = {key: t for key, t in self.runners.items() if t.is_alive()}
            if self.runners or self._has_schedules():
                idle_since = time.monotonic()
            elif not self.is_service and time.monotonic() - idle_since > self.settings.job_host_idle_s:
                break
            time.sleep(_POLL_S)
        for thread in self.runners.values():
            thread.join(timeout=self.settings.cancel_grace_s + 10)
        if self._run_folder is not None:
            os.close(self._run_folder)
            self._run_folder = None
        print(
            f"{self.host_id}: leaving after {self.jobs_taken} job(s), "
            f"{self.service.db.write_transactions} database write transaction(s)",
            flush=True,
        )

    def _home_gone(self) -> bool:
        """Whether an on-demand host's home was deleted (its run folder with
        the host's lock), even if made again since (this host's own
        database connections make it again within a second, and a new
        folder may get the old one's inode number): the folder the host
        holds open has no link left. Nothing can reach the host any more,
        and a host started for the new home would not see its lock; without
        this, a host kept alive by an active schedule outlived its home for
        ever. Looked at every few seconds; a team's host is its operator's."""
        if self.is_service or self._run_folder is None:
            return False
        if time.monotonic() - self._last_home_check < _HOME_CHECK_S:
            return False
        self._last_home_check = time.monotonic()
        return os.fstat(self._run_folder).st_nlink == 0

    def _warm_up(self) -> None:
        # The warm parent of batch workers imports its libraries in the
        # background from now on, so that the first job finds them imported.
        libraries = self.settings.warm_libraries
        if libraries is not None:
            from mlnb.runtime.warm import warm_up

            warm_up(libraries)

    def stop(self) -> None:
        """Asked to stop: drain for ``host_drain_s``, or stop at once when
        that is 0 or when asked again."""
        if self.draining.is_set() or self.settings.host_drain_s <= 0:
            self.stopping.set()
        self.draining.set()

    def _start_draining(self) -> float:
        running = len([t for t in self.runners.values() if t.is_alive()])
        print(
            f"{self.host_id}: draining: taking no new job, letting {running} job(s) finish for at most "
            f"{self.settings.host_drain_s:g} s (stop again to stop them now)",
            flush=True,
        )
        return time.monotonic() + self.settings.host_drain_s

    def _reap(self) -> None:
        # The host's loop is one of the explicit points where jobs whose
        # host died are ended (see JobService): once a heartbeat interval.
        if time.monotonic() - self._last_reap < self.settings.job_heartbeat_s:
            return
        self._last_reap = time.monotonic()
        for job in [*self.service.reap(), *self.service.expire_waiting(self.queues)]:
            ended = f"{job.project}/{job.job_id} {job.state}: {job.error_message}"
            print(f"{self.host_id}: ended {ended}", flush=True)

    def _fire_schedules(self) -> None:
        if self.schedules is None or time.monotonic() - self._last_schedules < _SCHEDULE_POLL_S:
            return
        self._last_schedules = time.monotonic()
        from mlnb.errors import MlnbError

        try:
            said = self.schedules.fire_due(self.queues)
        except MlnbError as e:  # the database busy or away: the next tick tries again
            said = [f"could not fire schedules: {e}"]
        for line in said:
            print(f"{self.host_id}: {line}", flush=True)

    def _has_schedules(self) -> bool:
        """An on-demand host stays while its machine has an active schedule
        (looked up once an idle period, not every tick)."""
        if self.schedules is None or self.is_service:
            return False
        if time.monotonic() - self._last_active_check < self.settings.job_host_idle_s / 2:
            return self._schedules_active
        self._last_active_check = time.monotonic()
        from mlnb.errors import MlnbError

        try:
            self._schedules_active = self.schedules.any_active(self.queues)
        except MlnbError:
            self._schedules_active = True  # unknown: stay, and ask again
        return self._schedules_active

    def _watch(self) -> None:
        """A team's host checks the drift of the versions whose baselines
        have alerting, once every ``monitor_interval_s`` (a check that
        fails is said and skipped: jobs come first)."""
        interval = self.settings.monitor_interval_s
        if not self.is_service or interval <= 0 or time.monotonic() - self._last_watch < interval:
            return
        self._last_watch = time.monotonic()
        from mlnb.errors import MlnbError
        from mlnb.monitoring.checks import check_drift
        from mlnb.prediction import PredictionLog
        from mlnb.store import BaselinesTx

        db = self.service.db
        with db.session() as session:
            watched = BaselinesTx(session).watched()
        log = PredictionLog(db)
        for project, model, version in watched:
            name = f"{project}/{model}/{version}"
            try:
                answer = check_drift(db, log, project, model, version)
            except (MlnbError, OSError) as e:
                print(f"{self.host_id}: could not check the drift of {name}: {e}", flush=True)
                continue
            if answer["alerted"]:
                print(f"{self.host_id}: drift alert for {name}: {', '.join(answer['drifted'])}", flush=True)

    def _claim(self) -> None:
        from mlnb.jobs.runner import Runner

        limit = self.settings.host_max_jobs if self.is_service else None
        cluster = self.settings.dask_scheduler or None
        for job in self.service.claim(self.host_id, os.getpid(), self.queues, limit, cluster):
            runner = Runner(
                self.settings,
                self.service,
                job.project,
                job.job_id,
                self.stopping,
                self.host_id,
                self.draining,
            )
            thread = threading.Thread(target=runner.run, name=f"runner-{job.job_id}", daemon=True)
            self.runners[(job.project, job.job_id)] = thread
            self.jobs_taken += 1
            thread.start()

    def leftover(self) -> bool:
        """Whether jobs still wait for a host (submitted as this one left)."""
        return bool(self.service.waiting(self.queues))


def run_until_signalled(host: JobHost) -> None:
    def stop(_number: int, _frame: FrameType | None) -> None:
        host.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host.serve()


def serve_team(settings: Settings, schedules: ScheduleFiring | None = None) -> None:
    """Run a job service in this process until SIGTERM or SIGINT."""
    host = JobHost(settings, service=True, schedules=schedules)
    print(
        f"Job host {host.host_id} on {settings.machine_id}: taking the team's jobs "
        f"(at most {settings.host_max_jobs} at once, {settings.max_running_jobs} running here)",
        flush=True,
    )
    run_until_signalled(host)
