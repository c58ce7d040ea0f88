"""The panels' widget models after real jobs change state: the progress
bar, the log text, the chart data, the buttons; and their text forms."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import trainers

from mlnb.api import Engine
from mlnb.errors import MlnbError
from mlnb.widgets import JobPanel, ModelBrowser, TuningPanel

pytestmark = pytest.mark.integration

# Five Keras-like epochs, held at two gates the test opens by creating files
# (GATE_DIR/start before epoch 1, GATE_DIR/rest after it), so that the panel
# is seen following a running job however slow the machine is.
GATED_EPOCHS = """
import os
import time

def wait_for(name):
    while not os.path.exists(os.path.join(GATE_DIR, name)):
        time.sleep(0.05)

wait_for("start")
for epoch in range(1, 6):
    print(f"Epoch {epoch}/5", flush=True)
    print(f"2/2 - 0s - 5ms/step - accuracy: {epoch / 10:.2f} - loss: {1 / epoch:.3f}", flush=True)
    if epoch == 1:
        wait_for("rest")
"""


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    engine = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, cancel_grace_s=1.0)
    yield engine
    engine.close()


def write_package(root: Path, script: str) -> Path:
    package = root / "epochs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(script)
    return package


def eventually(check: Any, timeout: float = 120.0) -> None:
    # Generous: the first job on a cold, loaded machine builds its trainer
    # environment and imports ipywidgets and plotly; the wait ends as soon as
    # the check holds.
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_the_job_panel_follows_a_training_job_to_its_end(engine: Engine, tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    package = write_package(tmp_path, f"GATE_DIR = {str(gates)!r}\n" + GATED_EPOCHS)
    engine.submit_training_job("epochs", {}, package_path=package, module_name="epochs.task")
    panel = JobPanel(engine, "epochs", widgets=True, refresh_s=0.2)
    try:
        assert panel.following  # the trainer cannot end before the start gate opens
        assert panel.chart_box.layout.display == "none"  # nothing reported yet: no empty chart
        (gates / "start").touch()
        # The background thread moves the bar while the job runs (held after epoch 1).
        eventually(lambda: panel.progress_bar.value == 1)
        assert panel.progress_bar.max == 5 and panel.record.state == "RUNNING"
        assert "RUNNING" in panel.title.value
        (gates / "rest").touch()
        eventually(lambda: panel.record.ended and not panel.following)
    finally:
        panel.stop()
    assert panel.record.state == "SUCCEEDED"
    assert (panel.progress_bar.value, panel.progress_bar.max) == (5, 5)
    assert panel.progress_label.value == "5/5 epochs"
    assert panel.progress_bar.bar_style == "success"
    assert "Epoch 5/5" in panel.log_box.value
    assert panel.cancel_button.disabled and panel.cancel_button.layout.display == "none"
    assert panel.elapsed_label.value.startswith("· elapsed ")
    traces = {trace.name: trace for trace in panel.chart.data}
    assert set(traces) == {"accuracy", "loss"}
    assert list(traces["loss"].x) == [1, 2, 3, 4, 5]
    assert list(traces["accuracy"].y) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert panel.chart_box.layout.display == ""


@pytest.mark.slow
def test_the_cancel_button_cancels_the_job(engine: Engine, tmp_path: Path) -> None:
    package = write_package(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    engine.submit_training_job("long", {}, package_path=package, module_name="epochs.task")
    panel = JobPanel(engine, "long", widgets=True, refresh_s=0.2)
    try:
        eventually(lambda: "started" in panel.log_box.value)
        panel.cancel_button.click()
        eventually(lambda: panel.record.state == "CANCELLED")
    finally:
        panel.stop()
    assert "CANCELLED" in panel.title.value and panel.cancel_button.disabled
    assert panel.progress_bar.bar_style == "info"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    home = tmp_path_factory.mktemp("tuned-home")
    engine = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, cancel_grace_s=1.0)
    tuner = trainers.write_tuned_trainer(tmp_path_factory.mktemp("tuner"))
    spec = {
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "hyperparameterMetricTag": "accuracy",
            "maxTrials": 3,
            "maxParallelTrials": 2,
            "params": [
                {"parameterName": "C", "type": "DOUBLE", "minValue": 0.001, "maxValue": 10},
                {
                    "parameterName": "class-weight",
                    "type": "CATEGORICAL",
                    "categoricalValues": ["none", "balanced"],
                },
            ],
        }
    }
    engine.submit_training_job("tuned", spec, package_path=tuner, module_name="tuner.task")
    assert engine.wait_job("tuned", timeout=300).state == "SUCCEEDED"
    yield engine
    engine.close()


@pytest.mark.slow
def test_the_tuning_panel_draws_trials_best_so_far_and_parameters(tuned: Engine) -> None:
    panel = TuningPanel(tuned, "tuned", widgets=True)
    trials = panel.trials
    assert len(trials) == 3
    by_number = sorted((int(t), v) for t, v in zip(trials["trialId"], trials["objectiveValue"], strict=True))
    values = [v for _, v in by_number]
    assert list(panel.curve.data[0].x) == [n for n, _ in by_number]
    assert list(panel.curve.data[0].y) == pytest.approx(values)
    running_best = [max(values[: i + 1]) for i in range(len(values))]
    assert list(panel.curve.data[1].y) == pytest.approx(running_best)
    dimensions = panel.parallel.data[0].dimensions
    assert [d.label for d in dimensions] == ["C", "class-weight", "metric"]
    assert list(dimensions[1].ticktext) == sorted(set(trials["class-weight"]))
    assert list(dimensions[2].values) == pytest.approx(list(trials["objectiveValue"]))
    assert f"trial {trials['trialId'][0]}" in panel.summary.value
    assert "<table" in panel.table.value
    # The job panel of a tuning job charts the same curve.
    job = JobPanel(tuned, "tuned", widgets=True)
    assert not job.following and list(job.chart.data[1].y) == pytest.approx(running_best)
    assert job.progress_label.value == "3/3 trials"


def test_the_model_browser_sets_the_default_deletes_and_predicts(
    engine: Engine, sklearn_model: Any, iris_features: Any
) -> None:
    engine.deploy("iris", "v1", sklearn_model[0])
    engine.deploy("iris", "v2", sklearn_model[0])
    browser = ModelBrowser(engine, widgets=True)
    assert browser.model_picker.options == ("iris",)
    assert [value for _, value in browser.version_picker.options] == ["v1", "v2"]
    assert browser.version_picker.value == "v1" and "(default)" in browser.version_picker.options[0][0]
    assert browser.default_button.disabled  # v1 is the default already

    browser.version_picker.value = "v2"
    assert browser.version == "v2" and not browser.default_button.disabled
    browser.default_button.click()
    assert engine.get_model("iris").default_version.name == "v2"
    assert "now the default" in browser.status.value

    browser.version_picker.value = "v1"
    browser.delete_button.click()
    assert browser.confirm_row.layout.display is None and "v1" in browser.confirm_label.value
    browser.keep_button.click()
    assert browser.confirm_row.layout.display == "none"
    assert [v.name for v in engine.list_versions("iris")] == ["v1", "v2"]
    browser.delete_button.click()
    browser.confirm_button.click()
    assert [v.name for v in engine.list_versions("iris")] == ["v2"]
    assert [value for _, value in browser.version_picker.options] == ["v2"]

    browser.instances_box.value = "\n".join(str(row) for row in iris_features[:2].tolist())
    browser.predict_button.click()
    expected = sklearn_model[1].predict(iris_features[:2]).tolist()
    assert browser.predictions == expected
    assert browser.output.value.count("<li>") == 2
    assert browser.chart_box.layout.display == "none"
    # Explain: the same instances, the chart shown (a row a feature for several instances).
    browser.explain_button.click()
    assert browser.explanation is not None and browser.predictions == expected
    assert "2 explanation(s) from iris/v2 (sampledShapleyAttribution)" in browser.status.value
    assert browser.chart_box.layout.display is None
    (output,) = browser.chart.widget.outputs
    figure = output["data"]["application/vnd.plotly.v1+json"]
    assert sorted(trace["name"] for trace in figure["data"]) == ["0", "1", "2", "3"]
    # A one-line list is one instance, as %%ml predict and the sidebar read it.
    browser.instances_box.value = json.dumps(iris_features[0].tolist())
    browser.predict_button.click()
    assert browser.predictions == expected[:1] and browser.chart_box.layout.display == "none"
    browser.instances_box.value = "not json"
    browser.predict_button.click()
    assert "Error: the text must hold instances: one JSON instance a line" in browser.status.value
    assert browser.predictions is None


def test_the_model_browser_pauses_resumes_and_runs_the_models_scheduled_batch_jobs(
    engine: Engine, sklearn_model: Any, iris_features: Any, tmp_path: Path
) -> None:
    engine.deploy("iris", "v1", sklearn_model[0])
    engine.deploy("other", "v1", sklearn_model[0])
    rows = tmp_path / "rows.json"
    rows.write_text("\n".join(json.dumps(r) for r in iris_features[:3].tolist()) + "\n")

    def batch_job(version_name: str) -> dict[str, Any]:
        prediction = {
            "versionName": version_name,
            "inputPaths": [str(rows)],
            "outputPath": str(tmp_path / "out" / "{{ job_id }}"),
            "dataFormat": "JSON",
        }
        return {"interval": "1d", "jobTemplate": {"predictionInput": prediction}}

    engine.create_schedule("nightly_iris", batch_job("projects/default/models/iris/versions/v1"))
    engine.create_schedule("nightly_other", batch_job("projects/default/models/other/versions/v1"))
    try:
        assert [s.name for s in engine.list_schedules(model="iris")] == ["nightly_iris"]
        browser = ModelBrowser(engine, model="iris", widgets=True)
        assert browser.schedule_box.layout.display is None
        ((label, name),) = browser.schedule_picker.options
        assert name == "nightly_iris" and label.startswith("nightly_iris · every 1d · ACTIVE · next ")
        assert browser.resume_button.disabled and not browser.pause_button.disabled
        browser.pause_button.click()
        assert engine.get_schedule("nightly_iris").state == "PAUSED"
        assert "Paused nightly_iris." in browser.status.value and not browser.resume_button.disabled
        browser.resume_button.click()
        assert engine.get_schedule("nightly_iris").state == "ACTIVE"
        browser.run_button.click()
        (run,) = engine.schedule_runs("nightly_iris")
        assert f"Submitted {run.job_id}." in browser.status.value
        assert engine.wait_job(run.job_id, timeout=120).state == "SUCCEEDED"
        browser.refresh()
        assert browser.schedule_picker.options[0][0].endswith(" · last SUCCEEDED")
        assert "scheduled: nightly_iris · every 1d · ACTIVE" in browser.text()
        # Another model's browser lists only its own; a model without any hides the box.
        browser.select_model("other")
        assert [n for _, n in browser.schedule_picker.options] == ["nightly_other"]
        engine.delete_schedule("nightly_other")
        browser.refresh()
        assert browser.schedules == [] and browser.schedule_box.layout.display == "none"
    finally:
        for name in ("nightly_iris", "nightly_other"):
            with contextlib.suppress(MlnbError):
                engine.delete_schedule(name)


def test_the_model_browser_of_an_empty_project_says_there_is_nothing_to_predict_with(engine: Engine) -> None:
    browser = ModelBrowser(engine, widgets=True)
    browser.instances_box.value = "[1, 2]"
    browser.predict_button.click()
    assert browser.predictions is None
    assert "no model to predict with" in browser.status.value


def test_without_widgets_the_panels_are_text(
    engine: Engine, sklearn_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "MLNB_WIDGETS", "0")
    engine.deploy("iris", "v1", sklearn_model[0])
    browser = ModelBrowser(engine)
    assert browser.widget is None
    assert "iris  (default: v1)" in browser.text() and "* v1" in browser.text()
    package = write_package(tmp_path, "print('hello')\n")
    engine.submit_training_job("hello", {}, package_path=package, module_name="epochs.task")
    engine.wait_job("hello", timeout=120)
    panel = JobPanel(engine, "hello")
    assert panel.widget is None and not panel.following
    assert panel.text().startswith("Job hello (training): SUCCEEDED")
    assert "hello" in repr(panel)


def test_a_magic_shows_its_panel_once(
    engine: Engine, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from mlnb.magics.ipython import close_engines

    for name in [n for n in os.environ if n.startswith("MLNB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("MLNB_WIDGETS", "0")
    package = write_package(tmp_path, "print('hello')\n")
    engine.submit_training_job("once", {}, package_path=package, module_name="epochs.task")
    engine.wait_job("once", timeout=120)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mlnb")
    try:
        capsys.readouterr()
        shell.run_cell("%ml jobs describe once", store_history=True)
        out = capsys.readouterr().out
        assert out.count("Job once (training): SUCCEEDED") == 1, out
    finally:
        close_engines()
