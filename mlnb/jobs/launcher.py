"""Starting a job's runner: a process of its own, in a session of its own,
so that it outlives the notebook kernel or shell that submitted the job."""

from __future__ import annotations

import os
import subprocess
import sys

from mlnb.config import Settings
from mlnb.jobs.paths import job_home

# Popen handles of runners this process started, polled so that a finished
# runner does not linger as a zombie while the submitter lives on.
_children: list[subprocess.Popen[bytes]] = []


def launch_runner(settings: Settings, project: str, job_id: str) -> int:
    """Start the runner of a job and return its pid."""
    reap_children()
    home = job_home(settings.home, project, job_id)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "runner.log", "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlnb.jobs.runner", "--project", project, "--job-id", job_id],
            env=_runner_env(settings),
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children.append(process)
    return process.pid


def reap_children() -> None:
    """Collect the exit status of runners that have finished."""
    _children[:] = [child for child in _children if child.poll() is None]


def _runner_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")}
    env.update(settings.to_env())
    return env
