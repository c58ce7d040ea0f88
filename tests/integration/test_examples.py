"""The plain-Python quickstart in examples/ runs end to end (make demo runs
the notebook version)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_python_quickstart_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")}
    env |= {"MLNB_HOME": str(tmp_path / "home"), "MLNB_JOB_HOST_IDLE_S": "3"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "iris_batch_1" in done.stdout
