"""Job records and their lifecycle in the metadata store: creation, state
changes (one transaction each), the concurrency queue, heartbeats, and the
reaping of jobs whose runner died."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from mlnb.errors import AlreadyExists, FailedPrecondition, NotFound
from mlnb.jobs.paths import HOST_MODULE
from mlnb.jobs.states import ACTIVE, ENDED, JobState, check_transition
from mlnb.naming import validate_labels, validate_name
from mlnb.records import JobRecord, check_etag, now
from mlnb.runtime.processes import kill_session, process_alive
from mlnb.store import Database, JobsTx

HOST = socket.gethostname()


def _waiting(job: JobRecord) -> bool:
    return job.runner_pid is None and job.runner_host == HOST


class JobService:
    """Jobs in the metadata store, under their state machine.

    Args:
        db: The metadata database.
        dead_after_s: A running job whose runner has not sent a heartbeat
            for this long is marked FAILED.
    """

    def __init__(self, db: Database, dead_after_s: float) -> None:
        self.db = db
        self.dead_after = timedelta(seconds=dead_after_s)

    @contextmanager
    def _write(self) -> Iterator[JobsTx]:
        with self.db.session(write=True) as session:
            yield JobsTx(session)

    def check_new_job(self, record: JobRecord) -> None:
        """Refuse a job that ``create_job`` would refuse, before the work of
        preparing it (building and staging packages) is done.

        Raises:
            InvalidArgument: A bad job id or labels.
            AlreadyExists: The project has a job of that id.
        """
        validate_name("job", record.job_id)
        validate_labels(record.labels)
        with self.db.session() as session:
            self._refuse_taken(JobsTx(session), record)

    def create_job(self, record: JobRecord) -> JobRecord:
        """Record a new job: QUEUED with everything a host needs to run it,
        or already FAILED (with its ``error_message``) when preparing it failed.

        Raises:
            InvalidArgument: A bad job id or labels.
            AlreadyExists: The project has a job of that id.
        """
        validate_name("job", record.job_id)
        validate_labels(record.labels)
        if record.state == JobState.FAILED:
            record = dataclasses.replace(record, end_time=record.end_time or now())
        record = dataclasses.replace(record, runner_host=HOST)
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

    def get_job(self, project: str, job_id: str) -> JobRecord:
        """A job, after reaping it if its runner died. Raises NotFound."""
        self.reap()
        with self.db.session() as session:
            return self._require(JobsTx(session), project, job_id)

    def list_jobs(self, project: str | None, states: list[str] | None = None) -> list[JobRecord]:
        """Jobs oldest first, after reaping those whose runner died."""
        self.reap()
        with self.db.session() as session:
            return JobsTx(session).list_jobs(project, states)

    def transition(self, project: str, job_id: str, state: JobState, **fields: Any) -> JobRecord:
        """Move a job to ``state`` in one transaction, stamping start and end times.

        Raises:
            FailedPrecondition: The move is not allowed from the current state.
        """
        with self._write() as tx:
            job = self._require(tx, project, job_id)
            check_transition(job_id, job.state, state)
            if state == JobState.RUNNING and job.start_time is None:
                fields.setdefault("start_time", now())
            if state in ENDED:
                fields.setdefault("end_time", now())
            return tx.update_job(project, job_id, state=state.value, **fields)

    def requeue(self, project: str, job_id: str, kinds: tuple[str, ...]) -> JobRecord:
        """Queue a FAILED or CANCELLED job of one of ``kinds`` again (resuming
        it), its end time and error cleared.

        Raises:
            NotFound: No such job.
            FailedPrecondition: Another kind, or not FAILED or CANCELLED.
        """
        self.reap()
        with self._write() as tx:
            job = self._require(tx, project, job_id)
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
                runner_host=HOST,
                heartbeat_time=None,
            )

    def request_cancel(self, project: str, job_id: str) -> JobRecord:
        """Cancel a job: a queued one ends CANCELLED at once, a started one
        goes to CANCELLING and its runner stops its processes.

        Raises:
            FailedPrecondition: The job has ended already.
        """
        self.reap()
        with self._write() as tx:
            job = self._require(tx, project, job_id)
            if job.state in ENDED:
                raise FailedPrecondition(f"Job {job_id!r} has already ended ({job.state}); nothing to cancel")
            if job.state == JobState.CANCELLING:
                return job
            if job.state == JobState.QUEUED:
                return tx.update_job(project, job_id, state=JobState.CANCELLED.value, end_time=now())
            return tx.update_job(project, job_id, state=JobState.CANCELLING.value)

    def claim_slot(self, project: str, job_id: str, limit: int) -> JobRecord | None:
        """Move a QUEUED job to PREPARING if it is the oldest queued job and
        fewer than ``limit`` jobs are active; ``None`` means wait."""
        with self._write() as tx:
            job = self._require(tx, project, job_id)
            if job.state != JobState.QUEUED:
                return job
            queued = tx.list_jobs(None, [JobState.QUEUED.value])
            if queued[0].job_id != job_id or queued[0].project != project:
                return None
            if tx.count_jobs([s.value for s in ACTIVE]) >= limit:
                return None
            return tx.update_job(project, job_id, state=JobState.PREPARING.value)

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
            job = self._require(tx, project, job_id)
            check_etag(etag, job.etag, f"job {job_id!r}")
            if dict(job.labels) == clean:
                return job
            return tx.update_job(project, job_id, labels=clean)

    def heartbeat(self, project: str, job_id: str, **fields: Any) -> JobRecord:
        """Record that the runner is alive (and progress, if given)."""
        with self._write() as tx:
            return tx.update_job(project, job_id, heartbeat_time=now(), **fields)

    def adopt(self, pid: int) -> list[JobRecord]:
        """Take the queued jobs submitted on this machine that no job host
        runs yet, for the host ``pid``."""
        if not self.waiting_for_host():
            return []  # the common case, without taking the write lock
        with self._write() as tx:
            waiting = [j for j in tx.list_jobs(None, [JobState.QUEUED.value]) if _waiting(j)]
            return [tx.update_job(j.project, j.job_id, runner_pid=pid, heartbeat_time=now()) for j in waiting]

    def waiting_for_host(self) -> list[JobRecord]:
        """Queued jobs of this machine that no job host has taken yet."""
        with self.db.session() as session:
            return [j for j in JobsTx(session).list_jobs(None, [JobState.QUEUED.value]) if _waiting(j)]

    def reap(self) -> list[JobRecord]:
        """Mark FAILED the unfinished jobs whose runner is gone: a dead
        process on this machine, or no heartbeat within the bound."""
        reaped = []
        with self.db.session() as session:
            candidates = JobsTx(session).list_jobs(None, [s.value for s in ACTIVE | {JobState.QUEUED}])
        for job in candidates:
            reason = self._death(job)
            if reason is None:
                continue
            with self._write() as tx:
                fresh = tx.get_job(job.project, job.job_id)
                if fresh is None or fresh.state in ENDED or self._death(fresh) is None:
                    continue
                state = JobState.CANCELLED if fresh.state == JobState.CANCELLING else JobState.FAILED
                message = None if state == JobState.CANCELLED else reason
                reaped.append(
                    tx.update_job(
                        job.project, job.job_id, state=state.value, error_message=message, end_time=now()
                    )
                )
            if job.runner_pid and job.runner_host == HOST:
                kill_session(job.runner_pid)  # replicas the dead runner left behind
        return reaped

    def _death(self, job: JobRecord) -> str | None:
        if job.runner_pid is None or job.heartbeat_time is None:
            # Submitted but no job host has taken it yet: give it the bound.
            if now() - job.create_time > self.dead_after:
                return f"No job host took the job within {self.dead_after.total_seconds():.0f} s"
            return None
        if job.runner_host == HOST and not process_alive(job.runner_pid, HOST_MODULE):
            return (
                f"The job host process (pid {job.runner_pid}) that ran the job died without ending it "
                "(killed, or the machine restarted)"
            )
        silent = now() - job.heartbeat_time
        if silent > self.dead_after:
            return (
                f"The job's runner on {job.runner_host} sent no heartbeat for "
                f"{silent.total_seconds():.0f} s (since {job.heartbeat_time:%Y-%m-%d %H:%M:%S} UTC)"
            )
        return None

    def _require(self, tx: JobsTx, project: str, job_id: str) -> JobRecord:
        job = tx.get_job(project, job_id)
        if job is None:
            raise NotFound(f"Job {job_id!r} does not exist in project {project!r}", resource=("job", job_id))
        return job
