"""A real TensorFlow MultiWorkerMirroredStrategy job: a chief and one worker
on the CPU train a tiny Keras model, the chief exports a SavedModel to the
job dir, and that export deploys as a version and predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlnb.api import Engine
from mlnb.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAINER = Path(__file__).parents[1] / "trainers_src" / "mwtrainer"


def test_multi_worker_mirrored_strategy_trains_exports_and_serves(home: Path, tmp_path: Path) -> None:
    engine = Engine(Settings.resolve(env={}, home=str(home), job_heartbeat_s=0.5, job_host_idle_s=3.0))
    spec = {
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-4",
        "workerType": "n1-standard-4",
        "workerCount": "1",
        "useChiefInTfConfig": True,
    }
    job_dir = tmp_path / "job"
    engine.submit_training_job(
        "mwms", spec, package_path=TRAINER, module_name="mwtrainer.task", job_dir=job_dir
    )
    job = engine.wait_job("mwms", timeout=300)
    assert job.state == "SUCCEEDED", job.error_message
    lines = [(e.replica, e.message) for e in engine.job_logs("mwms") if e.stream == "stdout"]
    assert ("chief-replica-0", "replicas in sync: 2") in lines
    assert ("worker-replica-0", "replicas in sync: 2") in lines

    engine.create_model("linear")
    version = engine.create_version("linear", "v1", job_dir / "export")
    assert (version.state, version.framework) == ("READY", "TENSORFLOW"), version.error_message
    instances = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 2.0, -1.0]]
    expected = np.asarray(instances) @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.25
    predictions = np.asarray(engine.predict("linear", instances)).reshape(-1)
    np.testing.assert_allclose(predictions, expected, atol=0.05)
    engine.close()
