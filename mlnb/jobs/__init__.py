"""Jobs: records and their state machine, the queue, runners that outlive
the submitter, logs, cancellation, and the reaping of jobs whose runner died."""

from __future__ import annotations

from mlnb.jobs.launcher import launch_runner, reap_children
from mlnb.jobs.logs import LogEntry, read_log
from mlnb.jobs.paths import job_home, log_path
from mlnb.jobs.service import JobService
from mlnb.jobs.states import ACTIVE, ENDED, JobState

__all__ = [
    "ACTIVE",
    "ENDED",
    "JobService",
    "JobState",
    "LogEntry",
    "job_home",
    "launch_runner",
    "log_path",
    "read_log",
    "reap_children",
]
