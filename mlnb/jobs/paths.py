"""Where a job's files live on this machine."""

from __future__ import annotations

from pathlib import Path

# How the job host is started; found again in its command line to tell it
# from another process that reused its pid.
HOST_MODULE = "mlnb.jobs.host"


def job_home(home: Path, project: str, job_id: str) -> Path:
    """``$MLNB_HOME/jobs/{project}/{job_id}``: logs, staged packages, outputs."""
    return home / "jobs" / project / job_id


def log_path(home: Path, project: str, job_id: str) -> Path:
    """The job's log, JSON lines of every replica's output."""
    return job_home(home, project, job_id) / "logs" / "log.jsonl"
