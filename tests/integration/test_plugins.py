"""Third-party framework adapters through the ``mlnb.frameworks`` entry
point: a working one deploys and predicts; a broken one fails only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlnb.api import Engine
from mlnb.errors import MlnbError

pytestmark = pytest.mark.integration

CSV_PLUGIN = """
from pathlib import Path

import numpy as np


class DotPredictor:
    def __init__(self, weights):
        self.weights = weights

    def predict(self, instances, **kwargs):
        return np.asarray(instances, dtype=float) @ self.weights


class CsvAdapter:
    name = "CSV_LINEAR"
    aliases = ("csv-linear",)
    file_patterns = ("weights.csv",)

    def detect(self, model_dir):
        return (Path(model_dir) / "weights.csv").is_file()

    def load(self, model_dir, options):
        text = (Path(model_dir) / "weights.csv").read_text()
        return DotPredictor(np.array([float(v) for v in text.split(",")]))

    def save(self, model, model_dir):
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        path = Path(model_dir) / "weights.csv"
        path.write_text(",".join(str(v) for v in model))
        return path
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    info = site / "mlnb_test_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlnb-test-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[mlnb.frameworks]\ncsv_linear = csv_plugin:CsvAdapter\nbroken = broken_plugin:Adapter\n"
    )
    (site / "csv_plugin.py").write_text(CSV_PLUGIN)
    (site / "broken_plugin.py").write_text("raise RuntimeError('this plugin is broken')\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_plugin_adapter_is_detected_and_serves(plugins: Path, engine: Engine, tmp_path: Path) -> None:
    assert "CSV_LINEAR" in engine.frameworks()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.csv").write_text("1,2,3")
    engine.create_model("lin")
    version = engine.create_version("lin", "v1", tmp_path / "m")
    assert (version.state, version.framework) == ("READY", "CSV_LINEAR")
    assert engine.predict("lin", [[1, 1, 1], [0, 0, 2]]) == [6.0, 6.0]


def test_a_broken_plugin_fails_only_when_used(
    plugins: Path, engine: Engine, sklearn_model: tuple[Path, object]
) -> None:
    engine.create_model("m")
    assert engine.create_version("m", "v1", sklearn_model[0]).state == "READY"
    with pytest.raises(MlnbError, match="The framework plugin 'BROKEN' failed to load: RuntimeError"):
        engine.create_version("m", "v2", sklearn_model[0], framework="broken")
    # import mlnb is untouched by it.
    code = "import mlnb; print(mlnb.__version__)"
    env_path = f"{plugins}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": env_path}, check=True
    )
    assert done.stdout.strip() == mlnb_version()


def mlnb_version() -> str:
    import mlnb

    return mlnb.__version__


# A job kind from a plug-in: one class and one entry point. The job host
# (its own process) finds it through the entry point, as it would in a
# package installed beside mlnb.
ECHO_KIND = """
from mlnb.runtime import Outcome
from mlnb.states import JobState


class EchoExecution:
    def __init__(self, context):
        self.context = context

    def prepare(self):
        self.context.log.service("echo is preparing")

    def start(self):
        self.context.log.service("echo says " + self.context.job.labels["word"])

    def poll(self):
        if self.context.job.labels["word"] == "fail":
            return Outcome(JobState.FAILED, "echo was told to fail")
        return Outcome(JobState.SUCCEEDED)

    def stop(self, grace_s):
        pass

    def progress(self):
        return {"done": 1, "total": 1, "unit": "echoes"}

    def outputs(self):
        return None

    def close(self):
        pass
"""


@pytest.fixture
def kind_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "kind-site"
    info = site / "mlnb_test_kinds-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlnb-test-kinds\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[mlnb.job_kinds]\necho = echo_kind:EchoExecution\nbroken = broken_kind:Execution\n"
    )
    (site / "echo_kind.py").write_text(ECHO_KIND)
    (site / "broken_kind.py").write_text("raise RuntimeError('this kind is broken')\n")
    monkeypatch.setenv("PYTHONPATH", str(site))  # for the job host the submission starts
    return site


def _submit_kind(engine: Engine, job_id: str, kind: str, word: str) -> None:
    from datetime import UTC, datetime

    from mlnb.jobs import ensure_job_host
    from mlnb.records import JobRecord
    from mlnb.states import JobState

    # No Engine method submits a plug-in's kind yet (its input has no field
    # of the Job body): the test records the job as a submission would.
    record = JobRecord(
        project=engine.project,
        job_id=job_id,
        kind=kind,
        state=JobState.QUEUED,
        create_time=datetime.now(UTC),
        labels={"word": word},
    )
    engine._jobs.service.create_job(record)
    ensure_job_host(engine.settings)


def test_a_plugin_job_kind_runs_in_the_job_host(kind_plugins: Path, engine: Engine) -> None:
    _submit_kind(engine, "echo_1", "echo", "hello")
    _submit_kind(engine, "echo_2", "echo", "fail")
    job = engine.wait_job("echo_1", timeout=120)
    assert (job.state, job.kind, job.progress) == (
        "SUCCEEDED",
        "echo",
        {"done": 1, "total": 1, "unit": "echoes"},
    )
    assert [e.message for e in engine.job_logs("echo_1") if e.message.startswith("echo")] == [
        "echo is preparing",
        "echo says hello",
    ]
    failed = engine.wait_job("echo_2", timeout=120)
    assert (failed.state, failed.error_message) == ("FAILED", "echo was told to fail")


def test_a_broken_or_unknown_job_kind_fails_its_job_with_the_reason(
    kind_plugins: Path, engine: Engine
) -> None:
    _submit_kind(engine, "broken_1", "broken", "x")
    _submit_kind(engine, "nope_1", "nope", "x")
    broken = engine.wait_job("broken_1", timeout=120)
    assert broken.state == "FAILED"
    assert broken.error_message == (
        "The job kind plug-in 'broken' failed to load: RuntimeError: this kind is broken"
    )
    unknown = engine.wait_job("nope_1", timeout=120)
    assert unknown.state == "FAILED"
    assert unknown.error_message == (
        "This mlnb cannot run nope jobs; it runs: training, tuning, prediction, notebook, echo, broken"
    )
