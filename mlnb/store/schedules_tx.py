"""Schedules and their runs inside one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from mlnb.records import ScheduleRecord, ScheduleRun
from mlnb.store.schema import ScheduleRow, ScheduleRunRow

__all__ = ["SchedulesTx"]

_CHANGEABLE = (
    "description",
    "labels",
    "spec",
    "state",
    "update_time",
    "next_run_time",
    "last_run_time",
    "run_count",
    "skipped_runs",
    "last_message",
)


class SchedulesTx:
    """The schedules' view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: ScheduleRecord) -> None:
        self._session.add(
            ScheduleRow(
                project=record.project,
                name=record.name,
                queue=record.queue,
                create_time=record.create_time,
                **{name: getattr(record, name) for name in _CHANGEABLE},
            )
        )
        self._session.flush()  # a taken name fails here, as AlreadyExists

    def get(self, project: str, name: str) -> ScheduleRecord | None:
        row = self._session.get(ScheduleRow, (project, name))
        return _schedule(row) if row is not None else None

    def listed(self, project: str | None = None) -> list[ScheduleRecord]:
        query = select(ScheduleRow).order_by(ScheduleRow.project, ScheduleRow.name)
        if project is not None:
            query = query.where(ScheduleRow.project == project)
        return [_schedule(row) for row in self._session.scalars(query).all()]

    def due(self, queues: Iterable[str], now: datetime) -> list[ScheduleRecord]:
        """Active schedules of ``queues`` whose next run time has come."""
        query = select(ScheduleRow).where(
            ScheduleRow.queue.in_(list(queues)),
            ScheduleRow.state == "ACTIVE",
            ScheduleRow.next_run_time <= now,
        )
        return [_schedule(row) for row in self._session.scalars(query).all()]

    def any_active(self, queues: Iterable[str]) -> bool:
        query = select(ScheduleRow.name).where(
            ScheduleRow.queue.in_(list(queues)), ScheduleRow.state == "ACTIVE"
        )
        return self._session.scalars(query.limit(1)).first() is not None

    def update(self, record: ScheduleRecord) -> None:
        row = self._session.get(ScheduleRow, (record.project, record.name))
        if row is None:
            return
        for name in _CHANGEABLE:
            setattr(row, name, getattr(record, name))

    def delete(self, project: str, name: str) -> None:
        row = self._session.get(ScheduleRow, (project, name))
        if row is not None:
            self._session.delete(row)
        # One statement: a schedule that ran every minute for a month has
        # tens of thousands of runs, not to be loaded to be deleted.
        self._session.execute(
            delete(ScheduleRunRow).where(ScheduleRunRow.project == project, ScheduleRunRow.schedule == name)
        )

    def add_run(self, project: str, schedule: str, run: ScheduleRun) -> None:
        """Record a run; raises AlreadyExists (at commit) when another host
        recorded the same due time first."""
        self._session.add(
            ScheduleRunRow(
                project=project,
                schedule=schedule,
                run_time=run.run_time,
                job_id=run.job_id,
                fire_time=run.fire_time,
                manual=run.manual,
                submitted=False,
                error=run.error,
            )
        )
        self._session.flush()

    def settle_run(self, project: str, schedule: str, run_time: datetime, error: str | None) -> None:
        """A run's job was made (``error`` None) or could not be."""
        row = self._session.get(ScheduleRunRow, (project, schedule, run_time))
        if row is not None:
            row.submitted = error is None
            row.error = error
            row.waiting_for = row.retry_time = None

    def wait_run(self, project: str, schedule: str, run_time: datetime, reason: str, retry: datetime) -> None:
        """A run's input is not there yet: it waits, and a host tries to
        submit it again from ``retry`` on."""
        row = self._session.get(ScheduleRunRow, (project, schedule, run_time))
        if row is not None:
            row.waiting_for, row.retry_time = reason, retry

    def runs(self, project: str, schedule: str, limit: int = 20) -> list[ScheduleRun]:
        """A schedule's runs, newest first."""
        query = (
            select(ScheduleRunRow)
            .where(ScheduleRunRow.project == project, ScheduleRunRow.schedule == schedule)
            .order_by(ScheduleRunRow.run_time.desc())
            .limit(limit)
        )
        return [_run(row) for row in self._session.scalars(query).all()]

    def newest_runs(self, project: str) -> dict[str, ScheduleRun]:
        """Each schedule's newest run, by schedule, in one read."""
        newest = (
            select(ScheduleRunRow.schedule, func.max(ScheduleRunRow.run_time).label("run_time"))
            .where(ScheduleRunRow.project == project)
            .group_by(ScheduleRunRow.schedule)
            .subquery()
        )
        query = select(ScheduleRunRow).join(
            newest,
            (ScheduleRunRow.schedule == newest.c.schedule) & (ScheduleRunRow.run_time == newest.c.run_time),
        )
        query = query.where(ScheduleRunRow.project == project)
        return {row.schedule: _run(row) for row in self._session.scalars(query).all()}

    def unsubmitted(
        self, queues: Iterable[str], before: datetime, now: datetime
    ) -> list[tuple[ScheduleRecord, ScheduleRun]]:
        """Runs whose job was neither made nor refused: recorded before
        ``before`` by a host that died before submitting, or waiting for
        their input with their retry time come by ``now``. A paused
        schedule's runs are held (they go on once it is resumed): pausing
        a schedule stops what it would still submit, not only new runs."""
        query = (
            select(ScheduleRunRow, ScheduleRow)
            .join(
                ScheduleRow,
                (ScheduleRow.project == ScheduleRunRow.project)
                & (ScheduleRow.name == ScheduleRunRow.schedule),
            )
            .where(
                ScheduleRow.queue.in_(list(queues)),
                ScheduleRow.state != "PAUSED",
                ScheduleRunRow.submitted.is_(False),
                ScheduleRunRow.error.is_(None),
                or_(
                    and_(ScheduleRunRow.retry_time.is_(None), ScheduleRunRow.fire_time < before),
                    ScheduleRunRow.retry_time <= now,
                ),
            )
        )
        return [(_schedule(schedule), _run(run)) for run, schedule in self._session.execute(query).all()]


def _schedule(row: ScheduleRow) -> ScheduleRecord:
    values: dict[str, Any] = {name: getattr(row, name) for name in _CHANGEABLE}
    values["labels"] = dict(row.labels or {})
    values["spec"] = dict(row.spec or {})
    return ScheduleRecord(
        project=row.project, name=row.name, queue=row.queue, create_time=row.create_time, **values
    )


def _run(row: ScheduleRunRow) -> ScheduleRun:
    return ScheduleRun(
        run_time=row.run_time,
        job_id=row.job_id,
        fire_time=row.fire_time,
        manual=row.manual,
        error=row.error,
        waiting_for=row.waiting_for,
        retry_time=row.retry_time,
    )
