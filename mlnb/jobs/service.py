"""Job records and their lifecycle in the metadata store: creation, state
changes (one transaction each), claims and leases of job hosts, the
concurrency queue, and the ending of jobs whose host died.

A job host *claims* queued jobs and holds each by a *lease* that its
heartbeats renew. Reads never write: a job whose host died (its process is
gone from this machine, or its lease ran out) reads as FAILED at once, and
is recorded so, and its leftover processes stopped, at explicit points:
a job host's loop, a submission, a cancel, a wait, ``reap``. Every write a
host makes about a job it runs names its lease, so that a host that lost
the job (paused, cut off, then back) can never record an end for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from mlnb.config import Settings
from mlnb.errors import AlreadyExists, FailedPrecondition, InvalidArgument, MlnbError, NotFound
from mlnb.jobs.kinds import SLOTLESS_KINDS, job_kinds
from mlnb.jobs.paths import HOST_COMMAND_MARKS
from mlnb.jobs.scheduling import Retries, Scheduling
from mlnb.jobs.states import ACTIVE, ENDED, JobState, check_transition
from mlnb.naming import validate_labels, validate_name, validate_project
from mlnb.records import JobRecord, check_etag, now
from mlnb.runtime.notifications import Notifications
from mlnb.runtime.processes import kill_session, process_alive
from mlnb.store import Database, JobsTx

TEAM_QUEUE = "team"


def by_priority(jobs: list[JobRecord]) -> list[JobRecord]:
    """Jobs in the order they start: higher ``scheduling.priority`` first,
    the oldest first among equals (``jobs`` come oldest first)."""
    return sorted(jobs, key=lambda job: -_priority(job))


def _priority(job: JobRecord) -> int:
    try:
        return Scheduling.of(job).priority
    except MlnbError:
        return 0  # checked at submission; a stored job is not refused here


def machine_queue(machine: str) -> str:
    """The queue of one machine's on-demand job host."""
    return f"machine:{machine}"


def settings_for_queue(settings: Settings, queue: str) -> Settings:
    """``settings`` changed so that an Engine of them submits into
    ``queue``: the team's, or this machine's.

    Raises:
        InvalidArgument: Another machine's queue.
    """
    if queue == TEAM_QUEUE:
        return settings.replace(job_host="service")
    if queue == machine_queue(settings.machine_id):
        return settings.replace(job_host="auto")
    raise InvalidArgument(f"This host cannot submit to the queue {queue!r}")


class LeaseLost(FailedPrecondition):
    """The job host no longer holds the job: another host or a reap ended
    it, or took it over. The host stops its processes and records nothing."""


@dataclasses.dataclass(frozen=True)
class Death:
    """Why a job's host is taken for dead, and since when."""

    reason: str
    since: datetime


class JobService:
    """Jobs in the metadata store, under their state machine.

    Args:
        db: The metadata database.
        dead_after_s: The lease: a job host that has not renewed its hold on
            a job for this long is taken for dead; and a job that no host of
            its machine took within it fails.
        machine: This machine (``Settings.machine_id``): pids are checked
            and processes signalled only for hosts of the same machine.
        queue: The queue this machine's submissions go to.
        settings: This process's settings, given to a kind's hook for a job
            whose host died (its notification channels).
    """

    def __init__(
        self,
        db: Database,
        dead_after_s: float,
        machine: str,
        queue: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.dead_after = timedelta(seconds=dead_after_s)
        self.machine = machine
        self.queue = queue or machine_queue(machine)

    @contextmanager
    def _write(self) -> Iterator[JobsTx]:
        # Rows, not the database: every write below locks the rows it changes.
        with self.db.session(write=True, serialize=False) as session:
            yield JobsTx(session)

    @contextmanager
    def _read(self) -> Iterator[JobsTx]:
        with self.db.session() as session:
            yield JobsTx(session)

    # Submission ---------------------------------------------------------

    def check_new_job(self, record: JobRecord) -> None:
        """Refuse a job that ``create_job`` would refuse, before the work of
        preparing it (building and staging packages) is done.

        Raises:
            InvalidArgument: A bad job id, labels or scheduling.
            AlreadyExists: The project has a job of that id.
        """
        _check_fields(record)
        with self._read() as tx:
            self._refuse_taken(tx, record)

    def create_job(self, record: JobRecord) -> JobRecord:
        """Record a new job in this machine's queue: QUEUED with everything
        a host needs to run it, or already FAILED (with its
        ``error_message``) when preparing it failed. A submission is an
        explicit point: jobs whose host died are ended first.

        Raises:
            InvalidArgument: A bad job id, labels or scheduling.
            AlreadyExists: The project has a job of that id.
        """
        _check_fields(record)
        self.reap()
        if record.state == JobState.FAILED:
            record = dataclasses.replace(record, end_time=record.end_time or now())
        record = dataclasses.replace(record, queue=self.queue)
        with self._write() as tx:
            self._refuse_taken(tx, record)
            tx.insert_job(record)
            return self._require(tx, record.project, record.job_id)

    def _refuse_taken(self, tx: JobsTx, record: JobRecord) -> None:
        if tx.get_job(record.project, record.job_id) is not None:
            raise AlreadyExists(
                f"Job {record.job_id!r} already exists in project {record.project!r}; "
                "job ids are never reused: pick another"
            )

    # Reads: no side effects ----------------------------------------------

    def get_job(self, project: str, job_id: str) -> JobRecord:
        """A job as it stands: one whose host died reads as ended. Raises NotFound."""
        with self._read() as tx:
            return self.view(self._require(tx, project, job_id))

    def jobs_named(self, project: str, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        """The jobs of ``job_ids`` that exist, by id, as they stand (see
        ``get_job``), in one read."""
        with self._read() as tx:
            return {job.job_id: self.view(job) for job in tx.jobs_named(project, job_ids)}

    def list_jobs(self, project: str | None, states: list[str] | None = None) -> list[JobRecord]:
        """Jobs oldest first, as they stand (see ``get_job``)."""
        with self._read() as tx:
            jobs = [self.view(job) for job in tx.list_jobs(project)]
        return jobs if states is None else [job for job in jobs if job.state in states]

    def view(self, job: JobRecord) -> JobRecord:
        """``job`` as the next reap will record it: ended, if its host died."""
        death = self.death(job)
        if death is None:
            return job
        state = JobState.CANCELLED if job.state == JobState.CANCELLING else JobState.FAILED
        message = None if state == JobState.CANCELLED else death.reason
        return dataclasses.replace(job, state=state, error_message=message, end_time=death.since)

    def death(self, job: JobRecord) -> Death | None:
        """Why an unended job's host is taken for dead, or ``None``."""
        if job.state in ENDED:
            return None
        if job.lease_holder is None:
            if job.state != JobState.QUEUED or job.queue == TEAM_QUEUE:
                return None  # the team's queue waits for its hosts as long as it takes
            since = (job.heartbeat_time or job.create_time) + self.dead_after
            if now() > since:
                bound = self.dead_after.total_seconds()
                return Death(f"No job host took the job within {bound:.0f} s", since)
            return None
        pid = job.runner_pid if job.runner_host == self.machine else None
        if pid is not None and not process_alive(pid, HOST_COMMAND_MARKS):
            return Death(
                f"The job host process (pid {job.runner_pid}) that ran the job died without "
                "ending it (killed, or the machine restarted)",
                job.heartbeat_time or now(),
            )
        if job.lease_expires is not None and now() > job.lease_expires:
            last = job.heartbeat_time or job.lease_expires
            return Death(
                f"The job host {job.lease_holder} on {job.runner_host} stopped renewing its "
                f"lease on the job (last at {last:%Y-%m-%d %H:%M:%S} UTC; the lease is "
                f"{self.dead_after.total_seconds():.0f} s)",
                job.lease_expires,
            )
        return None

    # Explicit points: the writes ----------------------------------------

    def reap(self, project: str | None = None, job_id: str | None = None) -> list[JobRecord]:
        """Record as ended the unended jobs (all, or one) whose host died,
        and stop the processes such a host left on this machine."""
        with self._read() as tx:
            if job_id is not None and project is not None:
                found = tx.get_job(project, job_id)
                candidates = [found] if found is not None else []
            else:
                candidates = tx.list_jobs(None, [s.value for s in ACTIVE | {JobState.QUEUED}])
        reaped = []
        for job in candidates:
            if self.death(job) is None:
                continue
            with self._write() as tx:
                fresh = tx.get_job(job.project, job.job_id, lock=True)
                if fresh is None:
                    continue
                ended = self.view(fresh)
                if ended is fresh:  # ended, or taken up again, meanwhile
                    continue
                reaped.append(
                    tx.update_job(
                        job.project,
                        job.job_id,
                        state=ended.state.value,
                        error_message=ended.error_message,
                        end_time=ended.end_time,
                        lease_holder=None,
                        lease_expires=None,
                    )
                )
            if fresh.runner_pid and fresh.runner_host == self.machine:
                kill_session(fresh.runner_pid)  # replicas the dead host left behind
            said = (
                job_kinds.abandoned(reaped[-1], self.db, self.settings)
                if fresh.state != JobState.QUEUED
                else None
            )
            if said:
                with self._write() as tx:
                    message = f"{reaped[-1].error_message or 'Its job host died'}; {said}"
                    reaped[-1] = tx.update_job(job.project, job.job_id, error_message=message)
        return reaped

    def transition(
        self, project: str, job_id: str, state: JobState, holder: str | None = None, **fields: Any
    ) -> JobRecord:
        """Move a job to ``state`` in one transaction, stamping start and end
        times; with ``holder``, only while that host holds the job (an end
        lets the lease go).

        Raises:
            FailedPrecondition: The move is not allowed from the current state.
            LeaseLost: ``holder`` no longer holds the job.
        """
        with self._write() as tx:
            job = self._require(tx, project, job_id, lock=True)
            if holder is not None:
                self._check_holder(job, holder)
            check_transition(job_id, job.state, state)
            if state == JobState.RUNNING and job.start_time is None:
                fields.setdefault("start_time", now())
            if state in ENDED:
                fields.setdefault("end_time", now())
                fields.update(lease_holder=None, lease_expires=None)
            return tx.update_job(project, job_id, state=state.value, **fields)

    def requeue(self, project: str, job_id: str, kinds: tuple[str, ...]) -> JobRecord:
        """Queue a FAILED or CANCELLED job of one of ``kinds`` again (resuming
        it) in this machine's queue, its end time and error cleared.

        Raises:
            NotFound: No such job.
            FailedPrecondition: Another kind, or not FAILED or CANCELLED.
        """
        self.reap(project, job_id)
        with self._write() as tx:
            job = self._require(tx, project, job_id, lock=True)
            if job.kind not in kinds:
                raise FailedPrecondition(
                    f"Job {job_id!r} is a {job.kind} job; only {' and '.join(kinds)} jobs can be resumed"
                )
            if job.state not in (JobState.FAILED, JobState.CANCELLED):
                raise FailedPrecondition(
                    f"Job {job_id!r} is {job.state}; only a FAILED or CANCELLED job can be resumed"
                )
            return tx.update_job(
                project,
                job_id,
                state=JobState.QUEUED.value,
                end_time=None,
                error_message=None,
                runner_pid=None,
                runner_host=None,
                heartbeat_time=None,
                queue=self.queue,
                lease_holder=None,
                lease_expires=None,
            )

    def request_cancel(self, project: str, job_id: str) -> JobRecord:
        """Cancel a job: a queued one ends CANCELLED at once, a started one
        goes to CANCELLING and its host stops its processes.

        Raises:
            FailedPrecondition: The job has ended already.
        """
        self.reap(project, job_id)
        with self._write() as tx:
            job = self._require(tx, project, job_id, lock=True)
            if job.state in ENDED:
                raise FailedPrecondition(f"Job {job_id!r} has already ended ({job.state}); nothing to cancel")
            if job.state == JobState.CANCELLING:
                return job
            if job.state == JobState.QUEUED:
                # Nothing started: a host waiting to start it lets it go.
                return tx.update_job(
                    project,
                    job_id,
                    state=JobState.CANCELLED.value,
                    end_time=now(),
                    lease_holder=None,
                    lease_expires=None,
                )
            return tx.update_job(project, job_id, state=JobState.CANCELLING.value)

    def update_labels(
        self, project: str, job_id: str, labels: dict[str, str], etag: str | None = None
    ) -> JobRecord:
        """Replace a job's labels, the one thing ML Engine lets change on a job.

        Raises:
            NotFound: No such job.
            InvalidArgument: The labels break the label rules.
            FailedPrecondition: ``etag`` is given and the job changed since.
        """
        clean = validate_labels(labels)
        with self._write() as tx:
            job = self._require(tx, project, job_id, lock=True)
            check_etag(etag, job.etag, f"job {job_id!r}")
            if dict(job.labels) == clean:
                return job
            return tx.update_job(project, job_id, labels=clean)

    # Job hosts: claims and leases ---------------------------------------

    def claim(
        self,
        holder: str,
        pid: int,
        queues: Iterable[str],
        limit: int | None = None,
        cluster: str | None = None,
    ) -> list[JobRecord]:
        """Take the oldest queued jobs of ``queues`` that no host holds, for
        the host ``holder`` (process ``pid`` on this machine), each under a
        lease; with ``limit``, only while the host holds fewer jobs. Jobs of
        the kinds that take no slot (a pipeline, a rollout: they wait on
        other jobs) neither count towards ``limit`` nor are held back by it,
        so that a pipeline never keeps its own child jobs from a host. A job
        that names no cluster gets ``cluster``, the host's own (its
        ``dask_scheduler``), so that slots are counted where it will run.
        Hosts claiming at once never take the same job."""
        queues = list(queues)
        slotless = sorted(SLOTLESS_KINDS)
        with self._read() as tx:  # the common case answers here, without writing
            full = limit is not None and tx.count_held(holder, except_kinds=slotless) >= limit
            if not tx.queued_unclaimed(queues, limit=1, kinds=slotless if full else None):
                return []
        with self._write() as tx:
            room = None if limit is None else limit - tx.count_held(holder, except_kinds=slotless)
            # By priority, then age: the rows are read (and locked) whole,
            # since the priority lives in each job's input. A full host locks
            # only the jobs it may take, not those other hosts may.
            full = room is not None and room <= 0
            claimed = []
            for job in by_priority(tx.queued_unclaimed(queues, lock=True, kinds=slotless if full else None)):
                if job.kind in SLOTLESS_KINDS:
                    claimed.append(job)
                elif room is None or room > 0:
                    claimed.append(job)
                    room = None if room is None else room - 1
            lease = self._lease(holder)
            return [
                tx.update_job(j.project, j.job_id, **lease, runner_pid=pid, cluster=j.cluster or cluster)
                for j in claimed
            ]

    def waiting(self, queues: Iterable[str]) -> list[JobRecord]:
        """Queued jobs of ``queues`` that no host has taken yet, in the
        order hosts take them."""
        with self._read() as tx:
            return by_priority(tx.queued_unclaimed(queues))

    def expire_waiting(self, queues: Iterable[str]) -> list[JobRecord]:
        """End FAILED the queued jobs of ``queues`` that no host took
        within their ``maxWaitTime``."""
        expired = []
        for job in self.waiting(queues):
            scheduling = Scheduling.of(job)
            deadline = scheduling.wait_deadline(job.create_time)
            if deadline is None or now() <= deadline:
                continue
            with self._write() as tx:
                fresh = tx.get_job(job.project, job.job_id, lock=True)
                if fresh is None or fresh.state != JobState.QUEUED or fresh.lease_holder is not None:
                    continue  # taken or ended meanwhile
                expired.append(
                    tx.update_job(
                        job.project,
                        job.job_id,
                        state=JobState.FAILED.value,
                        error_message=scheduling.waited_too_long(),
                        end_time=now(),
                    )
                )
        return expired

    def position(self, job: JobRecord) -> int | None:
        """Where a queued job no host took yet stands in its queue (1: next), else ``None``."""
        if job.state != JobState.QUEUED or job.lease_holder is not None or job.queue is None:
            return None
        order = [(j.project, j.job_id) for j in self.waiting([job.queue])]
        key = (job.project, job.job_id)
        return order.index(key) + 1 if key in order else None

    def release(self, project: str, job_id: str, holder: str) -> JobRecord:
        """Hand a held job that has not started back to its queue (its host
        is stopping), for another host to claim.

        Raises:
            LeaseLost: The host no longer holds the job.
        """
        with self._write() as tx:
            job = self._require(tx, project, job_id, lock=True)
            self._check_holder(job, holder)
            if job.state != JobState.QUEUED:
                return job
            return tx.update_job(
                project,
                job_id,
                lease_holder=None,
                lease_expires=None,
                runner_pid=None,
                runner_host=None,
                heartbeat_time=now(),  # the bound for a host to take it starts again
            )

    def heartbeat(self, project: str, job_id: str, holder: str, **fields: Any) -> JobRecord:
        """Renew ``holder``'s lease on the job (and record progress, if given).

        Raises:
            LeaseLost: The host no longer holds the job.
        """
        with self._write() as tx:
            self._check_holder(self._require(tx, project, job_id, lock=True), holder)
            return tx.update_job(project, job_id, **self._lease(holder), **fields)

    def claim_slot(
        self,
        project: str,
        job_id: str,
        holder: str,
        limit: int,
        cluster_limit: int = 0,
        gpus: int = 0,
        devices: Sequence[str] = (),
        gpus_of: Callable[[JobRecord], int] | None = None,
    ) -> JobRecord | None:
        """Move a held QUEUED job to PREPARING; one that runs its processes
        on this machine only if it is the oldest such job here, fewer than
        ``limit`` of them are active here and, when it asks for ``gpus``,
        that many of ``devices`` are held by no active job here (the job
        holds them from then on: ``gpu_devices``); one that runs on a
        cluster only while fewer than ``cluster_limit`` (0: no cap, the
        cluster's capacity decides) of its project's cluster jobs are
        active. ``gpus_of`` tells how many GPUs another queued job asks
        for: a job that asks for none goes ahead of older jobs that wait
        for GPUs not free (jobs that ask for GPUs keep their order, so that
        a large one is not passed for ever). ``None`` means wait.

        Raises:
            LeaseLost: The host no longer holds the job.
        """
        with self._write() as tx:
            job = self._require(tx, project, job_id, lock=True)
            self._check_holder(job, holder)
            if job.state != JobState.QUEUED:
                return job
            # A rollout or a pipeline runs no process of its own: it takes no slot.
            granted = (
                {}
                if job.kind in SLOTLESS_KINDS
                else self._slot(tx, job, limit, cluster_limit, gpus, devices, gpus_of)
            )
            if granted is None:
                return None
            return tx.update_job(
                project, job_id, state=JobState.PREPARING.value, **granted, **self._lease(holder)
            )

    def _slot(
        self,
        tx: JobsTx,
        job: JobRecord,
        limit: int,
        cluster_limit: int,
        gpus: int,
        devices: Sequence[str],
        gpus_of: Callable[[JobRecord], int] | None,
    ) -> dict[str, Any] | None:
        """What a job that may start now holds (``gpu_devices``, when it asks
        for GPUs), or ``None`` when it waits (see ``claim_slot``). Jobs share
        slots with the others of their pool (this machine's local jobs, or
        the project's cluster jobs) and start in order; one transaction at a
        time counts a pool's slots."""
        if job.cluster is None:
            pool: dict[str, Any] = {"on_cluster": False, "machine": self.machine}
            self.db.lock_name(tx.session, f"slots:{self.machine}")
        elif cluster_limit > 0:
            pool, limit = {"on_cluster": True, "project": job.project}, cluster_limit
            self.db.lock_name(tx.session, f"cluster-slots:{job.project}")
        else:
            return {}  # no cap: the cluster's capacity decides
        active = _slotted(tx.held_jobs([s.value for s in ACTIVE], **pool))
        held = {d for other in active for d in other.gpu_devices or ()}
        free = [d for d in devices if d not in held]
        queued = by_priority(_slotted(tx.held_jobs([JobState.QUEUED.value], **pool)))
        mine = next(
            (n for n, q in enumerate(queued) if (q.project, q.job_id) == (job.project, job.job_id)), 0
        )
        ahead = queued[:mine]
        if not gpus and gpus_of is not None:
            ahead = [other for other in ahead if gpus_of(other) <= len(free)]
        if ahead or len(active) >= limit:
            return None
        if gpus and job.cluster is None:
            return {"gpu_devices": free[:gpus]} if len(free) >= gpus else None
        return {}

    def _lease(self, holder: str) -> dict[str, Any]:
        stamp = now()
        return {
            "lease_holder": holder,
            "lease_expires": stamp + self.dead_after,
            "heartbeat_time": stamp,
            "runner_host": self.machine,
        }

    def _check_holder(self, job: JobRecord, holder: str) -> None:
        if job.lease_holder != holder or job.state in ENDED:
            taken = f"held by {job.lease_holder}" if job.lease_holder else f"{job.state}"
            raise LeaseLost(f"Job {job.job_id!r} is no longer this host's ({holder}): it is {taken}")

    def _require(self, tx: JobsTx, project: str, job_id: str, lock: bool = False) -> JobRecord:
        job = tx.get_job(project, job_id, lock)
        if job is None:
            raise NotFound(f"Job {job_id!r} does not exist in project {project!r}", resource=("job", job_id))
        return job


def _slotted(jobs: list[JobRecord]) -> list[JobRecord]:
    """The jobs that take a slot (not a rollout's or a pipeline's)."""
    return [job for job in jobs if job.kind not in SLOTLESS_KINDS]


def _check_fields(record: JobRecord) -> None:
    """Refuse a new job whose id, project, labels or mlnb options
    (scheduling, retries, notifications) break their rules.

    Raises:
        InvalidArgument: Naming the rule.
    """
    validate_project(record.project)
    validate_name("job", record.job_id)
    validate_labels(record.labels)
    Scheduling.of(record)
    Retries.of(record)
    Notifications.of(record)
