"""Schedules: a job template run on a cron or an interval by the job hosts.

What a schedule asks for (``spec``), when its runs fall due (``cadence``)
and how a run's job is filled from its template (``template``). The
engine's ``SchedulesAPI`` stores schedules and fires their due runs."""

from mlnb.schedules.cadence import Cadence, Firing, plan_firing
from mlnb.schedules.spec import MISSED_RUNS, ScheduleSpec
from mlnb.schedules.template import PARAMETERS, check_template, fill_template

__all__ = [
    "MISSED_RUNS",
    "PARAMETERS",
    "Cadence",
    "Firing",
    "ScheduleSpec",
    "check_template",
    "fill_template",
    "plan_firing",
]
