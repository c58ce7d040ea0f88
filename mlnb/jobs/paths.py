"""Where a job's files live on this machine."""

from __future__ import annotations

from pathlib import Path


def job_home(home: Path, project: str, job_id: str) -> Path:
    """``$MLNB_HOME/jobs/{project}/{job_id}``: logs, staged packages, outputs."""
    return home / "jobs" / project / job_id


def log_path(home: Path, project: str, job_id: str) -> Path:
    """The job's log, JSON lines of every replica's output."""
    return job_home(home, project, job_id) / "logs" / "log.jsonl"
