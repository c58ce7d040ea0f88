"""Reads and writes of jobs inside one transaction. Takes and returns
records; the rows stay here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlnb.records import JobRecord, make_etag
from mlnb.states import ENDED, JobState, job_kind
from mlnb.store.schema import JobRow

_UPDATABLE = {
    "state",
    "gpu_devices",
    "training_input",
    "prediction_input",
    "notebook_input",
    "job_input",
    "labels",
    "start_time",
    "end_time",
    "error_message",
    "training_output",
    "prediction_output",
    "progress",
    "runner_pid",
    "runner_host",
    "heartbeat_time",
    "queue",
    "lease_holder",
    "lease_expires",
    "cluster",
}
_ENDED = [s.value for s in ENDED]
# Bookkeeping that changes every few seconds does not change the etag.
_QUIET = {
    "heartbeat_time",
    "progress",
    "runner_pid",
    "runner_host",
    "prediction_output",
    "training_output",
    "lease_holder",
    "lease_expires",
    "cluster",
}


class JobsTx:
    """The jobs' view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def session(self) -> Session:
        """The transaction's session, for locks the caller takes in it."""
        return self._session

    def insert_job(self, record: JobRecord) -> None:
        self._session.add(
            JobRow(
                project=record.project,
                job_id=record.job_id,
                kind=record.kind,
                state=record.state,
                training_input=record.training_input,
                prediction_input=record.prediction_input,
                notebook_input=record.notebook_input,
                job_input=record.job_input,
                labels=dict(record.labels),
                create_time=record.create_time,
                end_time=record.end_time,
                error_message=record.error_message,
                runner_host=record.runner_host,
                cluster=record.cluster,
                queue=record.queue,
            )
        )
        self._session.flush()

    def get_job(self, project: str, job_id: str, lock: bool = False) -> JobRecord | None:
        """A job; with ``lock``, its row stays locked until the transaction
        ends (PostgreSQL ``FOR UPDATE``; SQLite's writer holds the file)."""
        row = self._row(project, job_id, lock)
        return _record(row) if row is not None else None

    def queued_unclaimed(
        self,
        queues: Iterable[str],
        limit: int | None = None,
        lock: bool = False,
        kinds: Iterable[str] | None = None,
    ) -> list[JobRecord]:
        """QUEUED jobs of ``queues`` (and of ``kinds``, if given) that no
        host holds, oldest first. With ``lock`` their rows stay locked, and
        rows another transaction has locked are skipped, so that hosts
        claiming at once take different jobs (PostgreSQL ``FOR UPDATE SKIP
        LOCKED``)."""
        query = (
            select(JobRow)
            .where(
                JobRow.state == JobState.QUEUED.value,
                JobRow.lease_holder.is_(None),
                JobRow.queue.in_(list(queues)),
            )
            .order_by(JobRow.id)
            .limit(limit)
        )
        if kinds is not None:
            query = query.where(JobRow.kind.in_(list(kinds)))
        if lock:
            query = query.with_for_update(skip_locked=True)
        return [_record(row) for row in self._session.scalars(query).all()]

    def count_held(self, holder: str, except_kinds: Iterable[str] = ()) -> int:
        """Unended jobs that ``holder`` holds (not counting ``except_kinds``)."""
        query = (
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.lease_holder == holder, JobRow.state.notin_(_ENDED))
        )
        if except_kinds:
            query = query.where(JobRow.kind.notin_(list(except_kinds)))
        return int(self._session.scalar(query) or 0)

    def held_jobs(
        self,
        states: Iterable[str],
        *,
        on_cluster: bool,
        machine: str | None = None,
        project: str | None = None,
    ) -> list[JobRecord]:
        """Jobs in ``states`` that a host holds, oldest first: those on a
        cluster or those running their processes on their host's machine,
        of one ``machine`` (of its hosts) or ``project``, or of all."""
        query = select(JobRow).where(
            JobRow.lease_holder.is_not(None),
            JobRow.cluster.is_not(None) if on_cluster else JobRow.cluster.is_(None),
            JobRow.state.in_(list(states)),
        )
        if machine is not None:
            query = query.where(JobRow.runner_host == machine)
        if project is not None:
            query = query.where(JobRow.project == project)
        return [_record(row) for row in self._session.scalars(query.order_by(JobRow.id)).all()]

    def jobs_named(self, project: str, job_ids: Iterable[str]) -> list[JobRecord]:
        """The jobs of ``job_ids`` that exist, in one read."""
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return []
        query = select(JobRow).where(JobRow.project == project, JobRow.job_id.in_(wanted))
        return [_record(row) for row in self._session.scalars(query).all()]

    def list_jobs(self, project: str | None = None, states: Iterable[str] | None = None) -> list[JobRecord]:
        """Jobs oldest first (the queue order), of a project or of all."""
        query = select(JobRow)
        if project is not None:
            query = query.where(JobRow.project == project)
        if states is not None:
            query = query.where(JobRow.state.in_(list(states)))
        return [_record(row) for row in self._session.scalars(query.order_by(JobRow.id)).all()]

    def update_job(self, project: str, job_id: str, **fields: Any) -> JobRecord:
        row = self._row(project, job_id)
        if row is None:
            raise LookupError(f"no job {project}/{job_id}")
        for key, value in fields.items():
            if key not in _UPDATABLE:
                raise TypeError(f"unknown job field {key}")
            setattr(row, key, value)
        if not set(fields) <= _QUIET:
            row.revision += 1
        self._session.flush()
        return _record(row)

    def _row(self, project: str, job_id: str, lock: bool = False) -> JobRow | None:
        query = select(JobRow).where(JobRow.project == project, JobRow.job_id == job_id)
        if lock:
            query = query.with_for_update()
        return self._session.scalars(query).one_or_none()


def _record(row: JobRow) -> JobRecord:
    return JobRecord(
        project=row.project,
        job_id=row.job_id,
        kind=job_kind(row.kind),
        state=JobState(row.state),
        create_time=row.create_time,
        training_input=row.training_input,
        prediction_input=row.prediction_input,
        notebook_input=row.notebook_input,
        job_input=row.job_input,
        labels=dict(row.labels or {}),
        start_time=row.start_time,
        end_time=row.end_time,
        error_message=row.error_message,
        training_output=row.training_output,
        prediction_output=row.prediction_output,
        progress=row.progress,
        etag=make_etag(row.revision),
        runner_pid=row.runner_pid,
        runner_host=row.runner_host,
        heartbeat_time=row.heartbeat_time,
        cluster=row.cluster,
        queue=row.queue,
        lease_holder=row.lease_holder,
        lease_expires=row.lease_expires,
        gpu_devices=tuple(str(d) for d in row.gpu_devices) if row.gpu_devices is not None else None,
    )
