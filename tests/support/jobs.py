"""Settings and clean-up for tests that run jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlnb.api import Engine
from mlnb.config import Settings


def job_settings(home: Path, **changes: Any) -> Settings:
    """Quick heartbeats, a short-lived on-demand host and a short cancel
    grace, and a generous death bound: on a loaded machine a job host may
    take seconds to start and take its first job, and a silent runner is
    only failed after this."""
    base: dict[str, Any] = {
        "job_heartbeat_s": 0.2,
        "job_dead_after_s": 30.0,
        "job_host_idle_s": 3.0,
        "cancel_grace_s": 1.0,
    }
    return Settings.resolve(env={}, home=str(home), **(base | changes))


def cancel_and_close(engine: Engine) -> None:
    """Cancel the jobs a test left running, then close the Engine."""
    for job in engine.list_jobs():
        if not job.ended:
            engine.cancel_job(job.job_id)
    engine.close()
