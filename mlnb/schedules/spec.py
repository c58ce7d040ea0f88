"""What a schedule asks for, read from its API body (an mlnb extension of
the v1 API): when its runs are due and the job each run submits.

- ``cron`` (five fields, in ``timeZone``) or ``interval`` (``6h``, ``every
  30m``: counted from ``startTime``, else from the schedule's creation);
- ``startTime`` and ``endTime`` bound the due times; ``maxRuns`` ends the
  schedule after that many scheduled runs;
- ``maxConcurrentRuns`` (default 1): a run due while that many of the
  schedule's jobs have not ended is skipped, and said so;
- due times a host finds passed are never run as a backlog: of them it runs
  one, the latest; that one is *missed* when found more than
  ``missedAfter`` (default ``60s``) after it fell due (no host ran then),
  and ``missedRuns`` says what then: ``RUN_ONCE`` (the default) runs it
  late, ``SKIP`` drops it. Every due time not run is counted and said;
- ``inputWait`` (default none): how long a run whose input is not there yet
  (a batch prediction's ``inputPaths`` matching no file, as "the data
  collected since the last run" may not have landed) waits for it, tried
  again every tenth of that (at least every 5 s, at most every minute),
  before it is refused as any run whose job cannot be submitted. A waiting
  run counts as running towards ``maxConcurrentRuns``;
- ``notifications``: ``{"webhook": URL, "email": [ADDRESSES], "on":
  ["MISSED", "REFUSED"]}``: who hears of runs not run, or whose job could
  not be submitted (the host's ``notify_webhook`` and ``notify_email`` by
  default; each run's job has its own, in the template);
- ``jobTemplate``: a ``Job`` body without its ``jobId`` (``trainingInput``,
  ``predictionInput``, ``notebookInput``, or ``jobKind`` and ``jobInput``),
  whose strings may hold ``{{ run_time }}`` and the other parameters of
  ``mlnb.schedules.template``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlnb.durations import format_duration, parse_duration
from mlnb.errors import InvalidArgument
from mlnb.naming import object_fields
from mlnb.records import JOB_INPUTS, format_time, parse_time
from mlnb.runtime.notifications import SCHEDULE_EVENTS, Notifications

__all__ = ["MISSED_RUNS", "ScheduleSpec"]

MISSED_RUNS = ("RUN_ONCE", "SKIP")
_MIN_INTERVAL_S = 1.0
_MAX_CONCURRENT = 100
_FIELDS = (
    "cron",
    "interval",
    "timeZone",
    "startTime",
    "endTime",
    "maxRuns",
    "maxConcurrentRuns",
    "missedRuns",
    "missedAfter",
    "inputWait",
    "notifications",
    "jobTemplate",
)
# A Schedule body's other fields: its own, and those only an answer sets
# (accepted in a body and ignored, as Google APIs do).
_RESOURCE_FIELDS = ("name", "description", "labels")
_OUTPUT_FIELDS = (
    "state",
    "createTime",
    "updateTime",
    "nextRunTime",
    "lastRunTime",
    "runCount",
    "skippedRuns",
    "lastMessage",
    "recentRuns",
)
_TEMPLATE_FIELDS = frozenset({*JOB_INPUTS, "jobInput", "labels"})


@dataclass(frozen=True)
class ScheduleSpec:
    """When a schedule's runs are due, and what each submits.

    Attributes:
        cron: A five-field cron expression, or ``None`` for an interval.
        interval_s: Seconds between runs, or ``None`` for a cron.
        time_zone: The IANA zone the cron fields and the template's
            formatted times are read in.
        start_time: No run is due before it (and intervals count from it).
        end_time: No run is due after it; past it the schedule ends.
        max_runs: The schedule ends after this many scheduled runs.
        max_concurrent_runs: A run due while this many of the schedule's
            jobs have not ended is skipped.
        missed_runs: ``RUN_ONCE`` or ``SKIP`` (see the module).
        missed_after_s: How late a due time may be found and still be run
            on time.
        input_wait_s: How long a run waits for its input (0: not at all).
        job_template: The ``Job`` body each run submits, before its
            parameters are filled.
    """

    cron: str | None
    interval_s: float | None
    job_template: dict[str, Any] = field(default_factory=dict)
    time_zone: str = "UTC"
    start_time: datetime | None = None
    end_time: datetime | None = None
    max_runs: int | None = None
    max_concurrent_runs: int = 1
    missed_runs: str = "RUN_ONCE"
    missed_after_s: float = 60.0
    input_wait_s: float = 0.0
    notifications: dict[str, Any] | None = None

    @classmethod
    def from_api(cls, body: Any) -> ScheduleSpec:
        """Read and check the schedule fields of an API body.

        Raises:
            InvalidArgument: Naming the field at fault.
        """
        fields = object_fields(
            body,
            "schedule",
            {*_FIELDS, *_RESOURCE_FIELDS, *_OUTPUT_FIELDS},
            '{"interval": "6h", "jobTemplate": {"trainingInput": {...}}}',
        )
        cron, interval = fields.get("cron"), fields.get("interval")
        if (cron is None) == (interval is None):
            raise InvalidArgument(
                "A schedule needs exactly one of cron (such as '0 2 * * *') and interval (such as '6h')"
            )
        spec = cls(
            cron=_cron(cron) if cron is not None else None,
            interval_s=_interval(interval) if interval is not None else None,
            job_template=_template(fields.get("jobTemplate")),
            time_zone=_zone(fields.get("timeZone") or "UTC"),
            start_time=_time(fields.get("startTime"), "startTime"),
            end_time=_time(fields.get("endTime"), "endTime"),
            max_runs=_count(fields.get("maxRuns"), "maxRuns", 1, None),
            max_concurrent_runs=_count(
                fields.get("maxConcurrentRuns"), "maxConcurrentRuns", 1, _MAX_CONCURRENT
            )
            or 1,
            missed_runs=_missed(fields.get("missedRuns") or "RUN_ONCE"),
            missed_after_s=_duration(fields.get("missedAfter"), "missedAfter", 60.0, minimum=1.0),
            input_wait_s=_duration(fields.get("inputWait"), "inputWait", 0.0, minimum=0.0),
            notifications=_notifications(fields.get("notifications")),
        )
        if spec.start_time and spec.end_time and spec.end_time <= spec.start_time:
            raise InvalidArgument("schedule.endTime must be after its startTime")
        return spec

    def updated(self, body: Mapping[str, Any], mask: list[str]) -> ScheduleSpec:
        """This spec with the fields of ``mask`` taken from ``body`` (a
        patch); ``cron`` and ``interval`` replace each other.

        Raises:
            InvalidArgument: A field mlnb cannot patch, or a bad value.
        """
        unknown = sorted(set(mask) - set(_FIELDS))
        if unknown:
            raise InvalidArgument(
                f"Cannot update {', '.join(unknown)}: a schedule updates {', '.join(_FIELDS)}"
            )
        merged = self.to_api()
        for name in mask:
            if name in ("cron", "interval"):
                merged.pop("cron", None)
                merged.pop("interval", None)
            if body.get(name) is None:
                merged.pop(name, None)
            else:
                merged[name] = body[name]
        return ScheduleSpec.from_api(merged)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cron": self.cron,
            "interval": format_duration(self.interval_s) if self.interval_s is not None else None,
            "timeZone": self.time_zone,
            "startTime": format_time(self.start_time),
            "endTime": format_time(self.end_time),
            "maxRuns": self.max_runs,
            "maxConcurrentRuns": self.max_concurrent_runs,
            "missedRuns": self.missed_runs,
            "missedAfter": format_duration(self.missed_after_s),
            "inputWait": format_duration(self.input_wait_s) if self.input_wait_s else None,
            "notifications": self.notifications,
            "jobTemplate": self.job_template,
        }
        return {k: v for k, v in body.items() if v is not None}


def _cron(value: Any) -> str:
    from croniter import croniter

    text = " ".join(str(value).split())
    aliases = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
    if text not in aliases and (len(text.split()) != 5 or not croniter.is_valid(text)):
        raise InvalidArgument(
            f"schedule.cron {value!r} is not a cron expression: five fields (minute hour day-of-month "
            "month day-of-week, such as '0 2 * * *' or '*/15 9-17 * * MON-FRI') or @hourly, @daily, "
            "@weekly, @monthly, @yearly"
        )
    return text


def _interval(value: Any) -> float:
    text = str(value).strip()
    if text.lower().startswith("every "):
        text = text[6:]
    try:
        seconds = parse_duration(text)
    except InvalidArgument as e:
        raise InvalidArgument(f"schedule.interval: {e.message} (or 'every 6h')") from e
    if seconds < _MIN_INTERVAL_S:
        raise InvalidArgument(f"schedule.interval must be at least {_MIN_INTERVAL_S:g}s, not {value!r}")
    return seconds


def _zone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise InvalidArgument(
            f"schedule.timeZone {value!r} is not an IANA time zone such as Europe/Paris"
        ) from e
    return str(value)


def _time(value: Any, name: str) -> datetime | None:
    return None if value is None else parse_time(value, f"schedule.{name}")


def _count(value: Any, name: str, least: int, most: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # an int64, as Google's JSON may write one
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = least - 1
    if isinstance(value, bool) or number < least or (most is not None and number > most) or number != value:
        bound = f"from {least} to {most}" if most is not None else f"of at least {least}"
        raise InvalidArgument(f"schedule.{name} must be a whole number {bound}, not {value!r}")
    return number


def _missed(value: Any) -> str:
    text = str(value).upper().replace("-", "_")
    if text not in MISSED_RUNS:
        raise InvalidArgument(f"schedule.missedRuns must be RUN_ONCE or SKIP, not {value!r}")
    return text


def _notifications(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    Notifications.from_api(value, events=SCHEDULE_EVENTS, default_on=SCHEDULE_EVENTS)
    return dict(value)


def _duration(value: Any, name: str, default: float, minimum: float) -> float:
    if value is None:
        return default
    try:
        seconds = parse_duration(value)
    except InvalidArgument as e:
        raise InvalidArgument(f"schedule.{name}: {e.message}") from e
    if seconds < minimum:
        raise InvalidArgument(f"schedule.{name} must be at least {minimum:g}s, not {value!r}")
    return seconds


def _template(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise InvalidArgument(
            "A schedule needs a jobTemplate: a Job body without its jobId (trainingInput, "
            "predictionInput, notebookInput, or jobKind and jobInput)"
        )
    unknown = sorted(set(value) - _TEMPLATE_FIELDS)
    if unknown:
        raise InvalidArgument(
            f"schedule.jobTemplate has {', '.join(unknown)}: a template holds "
            f"{', '.join(sorted(_TEMPLATE_FIELDS))} (each run's jobId comes from the schedule)"
        )
    inputs = [name for name in JOB_INPUTS if value.get(name)]
    if len(inputs) != 1:
        raise InvalidArgument(
            "schedule.jobTemplate must hold one of trainingInput, predictionInput, notebookInput "
            f"and jobKind, not {', '.join(inputs) or 'none'}"
        )
    return value
