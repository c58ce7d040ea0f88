"""Third-party framework adapters through the ``mlnb.frameworks`` entry
point: a working one deploys and predicts; a broken one fails only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlnb.api import Engine
from mlnb.errors import InvalidArgument, MlnbError

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


# A job kind from a plug-in: one class, its input's spec and one entry
# point. The job host (its own process) finds it through the entry point,
# as it would in a package installed beside mlnb.
ECHO_KIND = """
from mlnb.errors import InvalidArgument
from mlnb.jobs import KindPlugin
from mlnb.runtime import Outcome
from mlnb.states import JobState


class EchoInput:
    def __init__(self, word, times):
        self.word, self.times = word, times

    @classmethod
    def from_api(cls, body):
        word = body.get("word")
        if not isinstance(word, str) or not word:
            raise InvalidArgument("jobInput.word must be a word", field="jobInput.word")
        return cls(word, int(body.get("times", 1)))

    def to_api(self):
        return {"word": self.word, "times": self.times}


class EchoExecution:
    def __init__(self, context):
        self.context = context
        self.word = context.job.job_input["word"]
        self.times = context.job.job_input["times"]

    def prepare(self):
        self.context.log.service("echo is preparing")

    def start(self):
        for _ in range(self.times):
            self.context.log.service("echo says " + self.word)

    def poll(self):
        if self.word == "fail":
            return Outcome(JobState.FAILED, "echo was told to fail")
        return Outcome(JobState.SUCCEEDED)

    def stop(self, grace_s):
        pass

    def progress(self):
        return {"done": self.times, "total": self.times, "unit": "echoes"}

    def outputs(self):
        return None

    def close(self):
        pass


ECHO = KindPlugin(EchoExecution, spec=EchoInput)
"""


@pytest.fixture
def kind_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "kind-site"
    info = site / "mlnb_test_kinds-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlnb-test-kinds\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[mlnb.job_kinds]\necho = echo_kind:ECHO\nbroken = broken_kind:Execution\n"
    )
    (site / "echo_kind.py").write_text(ECHO_KIND)
    (site / "broken_kind.py").write_text("raise RuntimeError('this kind is broken')\n")
    monkeypatch.syspath_prepend(str(site))  # for the submitting Engine here
    monkeypatch.setenv("PYTHONPATH", str(site))  # for the job host the submission starts
    return site


def test_a_plugin_job_kind_is_submitted_and_runs_in_the_job_host(kind_plugins: Path, engine: Engine) -> None:
    assert engine.job_kinds()[:4] == ["training", "tuning", "prediction", "notebook"]
    assert "echo" in engine.job_kinds()
    submitted = engine.submit_job("echo_1", "echo", {"word": "hello", "times": 2}, labels={"team": "ml"})
    assert submitted.to_api()["jobKind"] == "echo"
    assert submitted.to_api()["jobInput"] == {"word": "hello", "times": 2}
    engine.submit_job("echo_2", "echo", {"word": "fail"})
    job = engine.wait_job("echo_1", timeout=120)
    assert (job.state, job.kind, job.progress, job.labels) == (
        "SUCCEEDED",
        "echo",
        {"done": 2, "total": 2, "unit": "echoes"},
        {"team": "ml"},
    )
    assert [e.message for e in engine.job_logs("echo_1") if e.message.startswith("echo")] == [
        "echo is preparing",
        "echo says hello",
        "echo says hello",
    ]
    failed = engine.wait_job("echo_2", timeout=120)
    assert (failed.state, failed.error_message) == ("FAILED", "echo was told to fail")


def test_a_plugin_kinds_input_is_checked_before_anything_is_recorded(
    kind_plugins: Path, engine: Engine
) -> None:
    with pytest.raises(InvalidArgument, match=r"jobInput\.word must be a word") as refused:
        engine.submit_job("echo_bad", "echo", {"times": 2})
    assert refused.value.field == "jobInput.word"
    with pytest.raises(InvalidArgument, match="jobInput must be an object, got list"):
        engine.submit_job("echo_bad", "echo", ["hello"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="training jobs take their own input, not jobInput"):
        engine.submit_job("echo_bad", "training", {"word": "x"})
    with pytest.raises(InvalidArgument, match="This mlnb cannot run nope jobs; it runs: training, tuning"):
        engine.submit_job("echo_bad", "nope", {})
    with pytest.raises(MlnbError, match="The job kind plug-in 'broken' failed to load: RuntimeError"):
        engine.submit_job("echo_bad", "broken", {})
    assert engine.list_jobs() == []


def test_a_plugin_kind_is_submitted_from_the_command_line(
    kind_plugins: Path,
    engine: Engine,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlnb.cli import main

    monkeypatch.setenv("MLNB_HOME", str(home))
    body = tmp_path / "echo.yaml"
    body.write_text("word: yaml\ntimes: 1\n")
    assert main(["jobs", "submit", "echo", "echo_cli", "--input", str(body), "--labels", "via=cli"]) == 0
    assert "Job [echo_cli] submitted successfully." in capsys.readouterr().out
    job = engine.wait_job("echo_cli", timeout=120)
    assert (job.state, job.job_input, job.labels) == (
        "SUCCEEDED",
        {"word": "yaml", "times": 1},
        {"via": "cli"},
    )
    body.write_text("[1, 2]\n")
    assert main(["jobs", "submit", "echo", "echo_list", "--input", str(body)]) == 1
    assert capsys.readouterr().err == f"mlnb: --input {body} must hold a mapping, not a list\n"
    assert main(["jobs", "submit", "ehco", "echo_typo"]) == 1
    assert capsys.readouterr().err.startswith("mlnb: This mlnb cannot run ehco jobs; it runs: training")


def _record_kind(engine: Engine, job_id: str, kind: str) -> None:
    """Record a job of ``kind`` as a machine that has its plug-in would
    (``submit_job`` here refuses a kind it cannot load), for a job host
    that lacks it."""
    from datetime import UTC, datetime

    from mlnb.jobs import ensure_job_host
    from mlnb.records import JobRecord
    from mlnb.states import JobState

    record = JobRecord(
        project=engine.project,
        job_id=job_id,
        kind=kind,
        state=JobState.QUEUED,
        create_time=datetime.now(UTC),
        job_input={"word": "x"},
    )
    engine._jobs.service.create_job(record)
    ensure_job_host(engine.settings)


def test_a_broken_or_unknown_job_kind_fails_its_job_with_the_reason(
    kind_plugins: Path, engine: Engine
) -> None:
    _record_kind(engine, "broken_1", "broken")
    _record_kind(engine, "nope_1", "nope")
    broken = engine.wait_job("broken_1", timeout=120)
    assert broken.state == "FAILED"
    assert broken.error_message == (
        "The job kind plug-in 'broken' failed to load: RuntimeError: this kind is broken"
    )
    unknown = engine.wait_job("nope_1", timeout=120)
    assert unknown.state == "FAILED"
    assert unknown.error_message == (
        "This mlnb cannot run nope jobs; it runs: "
        "training, tuning, prediction, notebook, rollout, pipeline, echo, broken"
    )
