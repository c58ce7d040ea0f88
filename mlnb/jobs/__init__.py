"""The job service: records and their state machine, the queue, the
registry of job kinds, the job host that runs them and outlives the
submitter, cancellation, and the reaping of jobs whose host died."""

from __future__ import annotations

from mlnb.jobs.host import ensure_job_host, serve_team
from mlnb.jobs.kinds import InputSpec, KindPlugin, job_kinds
from mlnb.jobs.paths import absolute_location, job_home, log_path
from mlnb.jobs.service import TEAM_QUEUE, JobService, LeaseLost, machine_queue, settings_for_queue
from mlnb.jobs.states import ACTIVE, ENDED, JobState
from mlnb.runtime.logs import LogEntry, read_log

__all__ = [
    "ACTIVE",
    "ENDED",
    "TEAM_QUEUE",
    "InputSpec",
    "JobService",
    "JobState",
    "KindPlugin",
    "LeaseLost",
    "LogEntry",
    "absolute_location",
    "ensure_job_host",
    "job_home",
    "job_kinds",
    "log_path",
    "machine_queue",
    "read_log",
    "serve_team",
    "settings_for_queue",
]
