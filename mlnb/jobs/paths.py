"""Where a job's files live on this machine."""

from __future__ import annotations

from pathlib import Path

from mlnb.config import HomePaths
from mlnb.naming import validate_name, validate_project

# How the on-demand job host is started.
HOST_MODULE = "mlnb.job_host"
# What a job host's command line holds (the on-demand host's module, or
# ``mlnb jobs host``): found again there to tell a host from another process
# that reused its pid.
HOST_COMMAND_MARKS = (HOST_MODULE, "jobs\0host")


def absolute_location(location: str | Path) -> str:
    """A URL (``gs://...``, ``s3://...``) as it is, a local path made
    absolute: jobs run in other processes and other folders."""
    text = str(location)
    return text if "://" in text else str(Path(text).expanduser().resolve())


def job_home(home: Path, project: str, job_id: str) -> Path:
    """``$MLNB_HOME/jobs/{project}/{job_id}``: logs, staged packages, outputs.

    Raises:
        InvalidArgument: A project or job id that breaks its rules (neither
            may lead anywhere but a folder of its own under ``jobs/``).
    """
    return HomePaths(home).jobs / validate_project(project) / validate_name("job", job_id)


def log_path(home: Path, project: str, job_id: str) -> Path:
    """The job's log, JSON lines of every replica's output."""
    return job_home(home, project, job_id) / "logs" / "log.jsonl"
