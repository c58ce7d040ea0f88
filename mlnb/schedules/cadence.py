"""A schedule's due times: the cron's, in its time zone, or every interval
from its start; within its start and end times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlnb.schedules.spec import ScheduleSpec

__all__ = ["Cadence", "Firing", "plan_firing"]

# Due times counted one by one when a host finds many passed (a cron that
# fired every minute while no host ran for a week): past it, "more than".
_MOST_COUNTED = 1000


class Cadence:
    """The due times of ``spec`` for a schedule created at ``created``
    (an interval without a start time counts from there, to the second: its
    first run is one interval after creation)."""

    def __init__(self, spec: ScheduleSpec, created: datetime) -> None:
        self.spec = spec
        if spec.interval_s is not None:
            self._step = timedelta(seconds=spec.interval_s)
            self._base = spec.start_time or created.replace(microsecond=0) + self._step

    def next_after(self, after: datetime) -> datetime | None:
        """The first due time strictly after ``after``, or ``None`` when
        the schedule has none left (past its end time)."""
        spec = self.spec
        if spec.interval_s is not None:
            if after < self._base:
                due = self._base
            else:
                steps = (after - self._base) // self._step + 1
                due = self._base + steps * self._step
        else:
            due = self._next_cron(after)
        if spec.end_time is not None and due > spec.end_time:
            return None
        return due

    def last_until(self, until: datetime) -> datetime | None:
        """The last due time at or before ``until`` (and the end time)."""
        spec = self.spec
        if spec.end_time is not None:
            until = min(until, spec.end_time)
        if spec.interval_s is not None:
            if until < self._base:
                return None
            return self._base + ((until - self._base) // self._step) * self._step
        from croniter import croniter

        local = (until + timedelta(microseconds=1)).astimezone(spec.zone)
        due: datetime = croniter(spec.cron, local).get_prev(datetime)
        due = due.astimezone(UTC)
        return None if spec.start_time is not None and due < spec.start_time else due

    def first(self, now: datetime) -> datetime | None:
        """The first due time from ``now`` on (a new or resumed schedule's)."""
        return self.next_after(now - timedelta(microseconds=1))

    def _next_cron(self, after: datetime) -> datetime:
        from croniter import croniter

        spec = self.spec
        start = after
        if spec.start_time is not None and start < spec.start_time:
            start = spec.start_time - timedelta(microseconds=1)
        # Read in the schedule's zone: "0 2 * * *" is 2 a.m. there, across
        # daylight-saving changes (a time that does not exist that day runs
        # at the first that does).
        local = start.astimezone(spec.zone)
        due: datetime = croniter(spec.cron, local).get_next(datetime)
        return due.astimezone(UTC)


@dataclass(frozen=True)
class Firing:
    """What a host does with a schedule it finds due.

    Attributes:
        run_time: The due time to run a job for now, or ``None``.
        passed: Due times passed since the schedule's next run time
            (``_MOST_COUNTED`` at most), the run's included.
        late: The latest due time was found more than ``missedAfter`` after
            it fell due.
        next_run_time: The next due time after now, or ``None`` (ended).
    """

    run_time: datetime | None
    passed: int
    late: bool
    next_run_time: datetime | None

    @property
    def not_run(self) -> int:
        return self.passed - (1 if self.run_time is not None else 0)


def plan_firing(cadence: Cadence, next_run_time: datetime, now: datetime) -> Firing:
    """The firing of a schedule whose next run time has come: at most one
    run, for the latest due time passed (never a backlog), dropped when it
    is late and the schedule skips missed runs."""
    latest, passed = next_run_time, 1
    following = cadence.next_after(latest)
    while following is not None and following <= now and passed < _MOST_COUNTED:
        latest, passed = following, passed + 1
        following = cadence.next_after(latest)
    if following is not None and following <= now:  # beyond the count: straight to now
        latest = cadence.last_until(now) or latest
        following = cadence.next_after(now)
    late = (now - latest).total_seconds() > cadence.spec.missed_after_s
    run = latest if not late or cadence.spec.missed_runs == "RUN_ONCE" else None
    return Firing(run, passed, late, following)
