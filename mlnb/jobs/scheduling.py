"""A job's scheduling, as ML Engine's ``trainingInput.scheduling`` defines
it (and mlnb reads from a notebook's or a plug-in kind's input too):
``maxRunningTime`` (a job running past it is stopped and ends FAILED),
``maxWaitTime`` (a job not started within it ends FAILED) and ``priority``
(0 to 1000: among queued jobs, a higher one starts first; the oldest first
among equals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlnb.durations import format_duration, parse_duration
from mlnb.errors import InvalidArgument
from mlnb.naming import object_fields
from mlnb.records import JobRecord

__all__ = ["MAX_PRIORITY", "MAX_RETRIES", "Retries", "Scheduling"]

MAX_PRIORITY = 1000
MAX_RETRIES = 10


@dataclass(frozen=True)
class Scheduling:
    """How long a job may run and wait, and how soon it starts."""

    max_running_s: float | None = None
    max_wait_s: float | None = None
    priority: int = 0

    @classmethod
    def from_api(cls, body: Any) -> Scheduling:
        """
        Raises:
            InvalidArgument: A field that is not a duration, or a priority
                outside 0 to 1000.
        """
        if body is None:
            return cls()
        fields = {"maxRunningTime", "maxWaitTime", "priority"}
        body = object_fields(body, "scheduling", fields, "{maxRunningTime, maxWaitTime, priority}")
        priority = body.get("priority", 0)
        if isinstance(priority, str) and priority.isdigit():
            priority = int(priority)
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= MAX_PRIORITY:
            raise InvalidArgument(f"scheduling.priority must be a whole number from 0 to {MAX_PRIORITY}")
        return cls(_seconds(body, "maxRunningTime"), _seconds(body, "maxWaitTime"), priority)

    @classmethod
    def of(cls, job: JobRecord) -> Scheduling:
        """The scheduling a job was submitted with (none: no bounds, priority 0)."""
        return cls.from_api(job.input_field("scheduling"))

    def run_deadline(self, started: datetime | None) -> datetime | None:
        if self.max_running_s is None or started is None:
            return None
        return started + timedelta(seconds=self.max_running_s)

    def wait_deadline(self, created: datetime) -> datetime | None:
        return None if self.max_wait_s is None else created + timedelta(seconds=self.max_wait_s)

    def ran_too_long(self) -> str:
        return (
            f"The job ran longer than its maxRunningTime ({format_duration(self.max_running_s or 0)}); "
            "its processes were stopped"
        )

    def waited_too_long(self) -> str:
        return f"The job did not start within its maxWaitTime ({format_duration(self.max_wait_s or 0)})"


@dataclass(frozen=True)
class Retries:
    """mlnb's ``retries`` beside ``scheduling``: a job whose run fails is
    run again, up to ``maxRetries`` more times, ``backoff`` apart (doubling
    each time); each failed attempt is kept in the job's ``progress``
    (``attempt``, ``attempts``) and its log. A job that fails to prepare,
    is cancelled or runs past its maxRunningTime is not retried."""

    max_retries: int = 0
    backoff_s: float = 10.0

    @classmethod
    def from_api(cls, body: Any) -> Retries:
        """
        Raises:
            InvalidArgument: A count outside 0 to 10, or a backoff that is not a duration.
        """
        if body is None:
            return cls()
        body = object_fields(
            body, "retries", {"maxRetries", "backoff"}, '{"maxRetries": 2, "backoff": "10s"}'
        )
        count = body.get("maxRetries", 0)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_RETRIES:
            raise InvalidArgument(f"retries.maxRetries must be a whole number from 0 to {MAX_RETRIES}")
        backoff = parse_duration(body["backoff"]) if body.get("backoff") not in (None, "") else 10.0
        return cls(count, backoff)

    @classmethod
    def of(cls, job: JobRecord) -> Retries:
        return cls.from_api(job.input_field("retries"))

    def delay_s(self, failed: int) -> float:
        """The wait after the ``failed``-th failed attempt."""
        return float(self.backoff_s * 2 ** (failed - 1))


def _seconds(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    seconds = parse_duration(value)
    if seconds <= 0:
        raise InvalidArgument(f"scheduling.{name} must be longer than 0s")
    return seconds
