"""The %ml magics through a real IPython shell: each command's output and
return value, flags on the line or as YAML keys of the body, $variables,
and one-line user errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from support import trainers
from support.notebook_factory import parameterised_notebook
from support.rest_server import call_http, fetch_text, free_port

from mlnb.api import Engine
from mlnb.config import Settings

pytestmark = pytest.mark.integration

EPOCH_SCRIPT = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    print(f"Epoch {epoch}/{args.epochs}")
    print(f"4/4 - 0s - 2ms/step - accuracy: {0.5 + epoch / 10:.4f} - loss: {1 / epoch:.4f}")
print("JOB_DIR", args.job_dir)
"""


@pytest.fixture
def shell(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    for name in [n for n in os.environ if n.startswith("MLNB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("MLNB_JOB_HEARTBEAT_S", "0.2")
    monkeypatch.setenv("MLNB_JOB_HOST_IDLE_S", "3")
    monkeypatch.setenv("MLNB_CANCEL_GRACE_S", "1")
    monkeypatch.setenv("MLNB_WIDGETS", "0")
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mlnb")
    yield ip
    from mlnb.magics.ipython import close_engines

    close_engines()
    for name in ("X", "frame", "model_dir", "epochs", "tag"):
        ip.user_ns.pop(name, None)


@pytest.fixture
def deployed(shell: Any, sklearn_model: tuple[Path, Any]) -> str:
    shell.run_line_magic("ml", f"deploy iris v1 --origin {sklearn_model[0]}")
    return "iris"


def engine_of(home: Path) -> Engine:
    return Engine(Settings.resolve(env={}, home=str(home)))


def fails(shell: Any, line: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run a cell that must fail with a one-line user error; return the message."""
    result = shell.run_cell(line)
    captured = capsys.readouterr()
    assert result.error_in_exec is not None, captured
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "Traceback" not in captured.out + captured.err
    return str(result.error_in_exec)


def test_deploy_creates_the_model_then_the_version(shell: Any, sklearn_model: Any, home: Path) -> None:
    version = shell.run_line_magic("ml", f"deploy iris v1 --origin {sklearn_model[0]} --description first")
    assert version.name == "v1" and version.state == "READY" and version.is_default
    second = shell.run_line_magic("ml", f"deploy iris v2 --origin {sklearn_model[0]} --set-default")
    assert second.is_default
    engine = engine_of(home)
    assert engine.get_model("iris").default_version.name == "v2"
    assert engine.get_version("iris", "v1").description == "first"
    engine.close()


def test_lists_come_back_as_dataframes(shell: Any, deployed: str) -> None:
    models = shell.run_line_magic("ml", "models")
    assert isinstance(models, pd.DataFrame)
    assert models.to_dict("records")[0] | {"labels": {}} == {
        "name": "iris",
        "defaultVersion": "v1",
        "description": "",
        "labels": {},
    }
    versions = shell.run_line_magic("ml", "versions list --model iris")
    assert list(versions["name"]) == ["v1"] and bool(versions["isDefault"][0])
    assert shell.run_line_magic("ml", "versions --model iris").equals(versions)
    jobs = shell.run_line_magic("ml", "jobs")
    assert isinstance(jobs, pd.DataFrame) and len(jobs) == 0 and "state" in jobs.columns


def test_predict_reads_instances_from_every_kind_of_body(
    shell: Any, deployed: str, iris_features: Any, sklearn_model: Any
) -> None:
    rows = iris_features[:3].tolist()
    expected = sklearn_model[1].predict(iris_features[:3]).tolist()
    json_lines = "\n".join(str(r) for r in rows)
    request = json.dumps({"instances": rows})
    json_list_over_lines = json.dumps(rows, indent=2)
    yaml_list = "".join(f"- {r}\n" for r in rows)
    mapping = "model: iris\ninstances:\n" + "".join(f"  - {r}\n" for r in rows)
    for line, body in [
        ("predict --model iris", json_lines),
        ("predict --model iris", request),
        ("predict --model iris", json_list_over_lines),
        ("predict --model iris --version v1", yaml_list),
        ("predict", mapping),
    ]:
        predictions = shell.run_cell_magic("ml", line, body)
        assert isinstance(predictions, pd.DataFrame)
        assert predictions["prediction"].tolist() == expected, (line, body)
    # One line is one instance, as gcloud reads --json-instances.
    one = shell.run_cell_magic("ml", "predict --model iris", str(rows[0]))
    assert one["prediction"].tolist() == expected[:1]


def test_predict_takes_a_dataframe_or_an_array_by_name(
    shell: Any, deployed: str, iris_features: Any, sklearn_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = sklearn_model[1].predict(iris_features[:4]).tolist()
    shell.user_ns["frame"] = pd.DataFrame(iris_features[:4], columns=["a", "b", "c", "d"])
    shell.user_ns["X"] = np.asarray(iris_features[:4])
    for name in ("frame", "X"):
        result = shell.run_line_magic("ml", f"predict --model iris --instances {name}")
        assert result["prediction"].tolist() == expected
    message = fails(shell, "%ml predict --model iris --instances missing_name", capsys)
    assert "missing_name" in message
    result = shell.run_cell("%%ml predict --model iris --instances X\n[1, 2, 3, 4]\n")
    assert "not both" in str(result.error_in_exec)


def test_explain_gives_one_row_an_instance_and_one_column_a_feature(
    shell: Any, deployed: str, iris_features: Any, sklearn_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[dict[str, Any]] = []
    monkeypatch.setattr(shell.display_pub, "publish", lambda data, **kwargs: shown.append(data))
    shell.user_ns["frame"] = pd.DataFrame(iris_features[:3], columns=["a", "b", "c", "d"])
    result = shell.run_line_magic("ml", "explain --model iris --instances frame")
    # The chart is shown beside the frame: a summary row a feature, dots coloured by the frame's values.
    (chart,) = [d["application/vnd.plotly.v1+json"] for d in shown if "application/vnd.plotly.v1+json" in d]
    assert sorted(trace["name"] for trace in chart["data"]) == ["a", "b", "c", "d"]
    first = next(trace for trace in chart["data"] if trace["name"] == "a")
    assert first["marker"]["color"] == iris_features[:3, 0].tolist()
    assert isinstance(result, pd.DataFrame) and len(result) == 3
    assert result["prediction"].tolist() == sklearn_model[1].predict(iris_features[:3]).tolist()
    # The features are named as the instances name them (the frame's columns).
    total = result[["a", "b", "c", "d"]].sum(axis=1)
    assert np.allclose(total, result["example_score"] - result["baseline_score"])
    assert result.attrs["explanation"]["method"] == "sampledShapleyAttribution"
    shown.clear()
    body = shell.run_cell_magic("ml", "explain --model iris", str(iris_features[0].tolist()))
    assert list(body.columns[:4]) == ["0", "1", "2", "3"] and len(body) == 1
    (chart,) = [d["application/vnd.plotly.v1+json"] for d in shown if "application/vnd.plotly.v1+json" in d]
    assert [trace["type"] for trace in chart["data"]] == ["bar"]
    shown.clear()
    shell.run_line_magic("ml", "explain --model iris --instances frame --no-chart")
    assert not [d for d in shown if "application/vnd.plotly.v1+json" in d]


def test_evaluate_returns_the_figures_and_draws_the_charts(
    shell: Any,
    deployed: str,
    iris_features: Any,
    sklearn_model: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sklearn.datasets import load_iris
    from sklearn.metrics import accuracy_score

    shown: list[dict[str, Any]] = []
    monkeypatch.setattr(shell.display_pub, "publish", lambda data, **kwargs: shown.append(data))
    shell.user_ns["frame"] = pd.DataFrame(iris_features, columns=list("abcd")).assign(
        species=load_iris().target
    )
    result = shell.run_line_magic("ml", "evaluate --model iris --data frame --target species")
    accuracy = accuracy_score(load_iris().target, sklearn_model[1].predict(iris_features))
    assert result.loc["accuracy", "v1"] == pytest.approx(accuracy)
    assert result.attrs["evaluation"]["rows"] == 150
    charts = [d["application/vnd.plotly.v1+json"] for d in shown if "application/vnd.plotly.v1+json" in d]
    assert [chart["data"][0]["type"] for chart in charts] == ["heatmap", "scatter", "scatter"]
    assert charts[0]["data"][0]["z"] == result.attrs["evaluation"]["metrics"]["confusionMatrix"]["matrix"]
    # Three ROC curves (a class against the rest) and the line of chance.
    assert len(charts[1]["data"]) == 4
    shell.run_line_magic("ml", f"deploy iris v2 --origin {sklearn_model[0]}")
    shown.clear()
    compared = shell.run_line_magic(
        "ml", "evaluate --model iris --data frame --target species --compare v2 --no-plot"
    )
    assert list(compared.columns) == ["v1", "v2", "difference", "low", "high"]
    assert compared.loc["accuracy", "difference"] == 0 and not shown
    # %ml versions shows each version's newest evaluation.
    listed = shell.run_line_magic("ml", "versions list --model iris").set_index("name")
    assert listed.loc["v1", "evaluation"].startswith(f"accuracy {accuracy:.4g}, ")
    # A gate the magics set and meet as the CLI does.
    shell.run_line_magic("ml", "models update iris --evaluation-gates 'holdout:accuracy>=0.99'")
    message = fails(shell, "%ml versions set-default v2 --model iris", capsys)
    assert "v2 has no evaluation on dataset 'holdout'" in message


def test_monitor_drift_is_a_frame_and_charts(
    shell: Any, deployed: str, iris_features: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[dict[str, Any]] = []
    monkeypatch.setattr(shell.display_pub, "publish", lambda data, **kwargs: shown.append(data))
    shell.user_ns["frame"] = pd.DataFrame(iris_features, columns=list("abcd"))
    described = shell.run_line_magic("ml", "monitor describe --data frame")
    assert list(described.index) == list("abcd") and described.loc["a", "count"] == 150
    # Datalab's spelling of the same.
    assert shell.run_line_magic("ml", "dataset describe --data frame").equals(described)
    shell.run_line_magic("ml", "monitor baseline --model iris --data frame")
    moved = pd.DataFrame(iris_features, columns=list("abcd")).assign(c=lambda f: f["c"] + 5)
    shell.user_ns["moved"] = moved
    skew = shell.run_line_magic("ml", "monitor drift --model iris --data moved")
    assert bool(skew.loc["c", "drifted"]) and not bool(skew.loc["a", "drifted"])
    assert skew.attrs["drift"]["drifted"] == ["c"]
    charts = [d["application/vnd.plotly.v1+json"] for d in shown if "application/vnd.plotly.v1+json" in d]
    # The PSI of each feature, then c's distribution against the baseline's.
    assert len(charts) == 2 and charts[1]["data"][0]["name"] == "baseline"


def test_notebook_instances_go_to_the_engine_as_they_are(
    shell: Any,
    deployed: str,
    iris_features: Any,
    sklearn_model: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Handed over as Python objects, not written to a file for the CLI: a
    # file flag beside them is a second source, refused.
    shell.user_ns["X"] = np.asarray(iris_features[:2])
    lines = tmp_path / "instances.jsonl"
    lines.write_text("[1, 2, 3, 4]\n")
    message = fails(shell, f"%ml predict --model iris --instances X --json-instances {lines}", capsys)
    assert "from the notebook or from a file, not both" in message
    # The file alone still works, and --format prints what the CLI prints.
    assert shell.run_line_magic("ml", f"predict --model iris --json-instances {lines} --format json") is None
    printed = capsys.readouterr().out
    expected = sklearn_model[1].predict(np.asarray([[1, 2, 3, 4]])).tolist()
    assert orjson.loads(printed) == {"predictions": expected}


def test_flags_on_the_line_or_in_the_body_but_not_both(
    shell: Any, sklearn_model: Any, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    body = f"origin: {sklearn_model[0]}\ndescription: from the body\nlabels:\n  team: ml\n"
    version = shell.run_cell_magic("ml", "deploy census v1", body)
    assert version.description == "from the body" and version.labels == {"team": "ml"}
    message = fails(shell, f"%%ml deploy census v2 --description x\n{body}", capsys)
    assert "--description is given both on the magic line and in the cell body" in message
    message = fails(shell, f"%%ml deploy census v3\norigin: {sklearn_model[0]}\nflavour: x\n", capsys)
    assert "flavour" in message and "not flags" in message


def test_dollar_names_take_notebook_values(
    shell: Any, sklearn_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["model_dir"] = str(sklearn_model[0])
    shell.user_ns["tag"] = "a b"
    version = shell.run_line_magic("ml", "deploy census v1 --origin $model_dir --description ${tag}")
    assert version.description == "a b"
    version = shell.run_cell_magic("ml", "deploy census v2", "origin: $model_dir\ndescription: cost $$5\n")
    assert version.description == "cost $5"
    assert "$nowhere is not a variable" in fails(shell, "%ml deploy census v3 --origin $nowhere", capsys)


def test_help_and_user_errors_are_short(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert shell.run_line_magic("ml", "--help") is None
    out = capsys.readouterr().out
    assert "%%ml train" in out and "batch_predict" in out and "tensorboard" in out
    shell.run_line_magic("ml", "train --help")
    assert "--job-dir" in capsys.readouterr().out
    assert shell.run_line_magic("ml", "") is None
    assert "Commands:" in capsys.readouterr().out
    assert "No such command" in fails(shell, "%ml fly", capsys)
    assert fails(shell, "%ml versions list --model nope", capsys).endswith(
        "does not exist in project 'default'. List models with: %ml models list"
    )
    assert "see %ml versions create --help" in fails(shell, "%ml versions create v1", capsys)
    result = shell.run_cell("%ml versions list --model nope --debug")
    assert type(result.error_in_exec).__name__ == "NotFound"  # --debug: the real exception, traceback and all


@pytest.mark.slow
def test_a_cell_is_a_trainer_run_as_a_job(shell: Any, tmp_path: Path) -> None:
    shell.user_ns["epochs"] = 3
    job_dir = tmp_path / "runs" / "x"
    panel = shell.run_cell_magic("ml", f"train --job-dir {job_dir} -- --epochs $epochs", EPOCH_SCRIPT)
    assert panel.job_id.startswith("train_")
    record = panel.wait(timeout=120)
    assert record.state == "SUCCEEDED", panel.logs()
    assert record.progress == {"done": 3, "total": 3, "unit": "epochs"}
    assert any(f"JOB_DIR {job_dir}" in line for line in panel.logs())
    assert "SUCCEEDED" in panel.text() and "3/3 epochs" in panel.text()
    losses = panel.metrics[panel.metrics["series"] == "loss"]
    assert losses["step"].tolist() == [1, 2, 3]
    assert losses["value"].tolist() == pytest.approx([1.0, 0.5, 0.3333])
    jobs = shell.run_line_magic("ml", "jobs")
    assert jobs.loc[0, "jobId"] == panel.job_id and jobs.loc[0, "progress"] == "3/3 epochs"
    described = shell.run_line_magic("ml", f"jobs describe {panel.job_id}")
    assert described.state == "SUCCEEDED"
    assert shell.run_line_magic("ml", f"jobs logs {panel.job_id} --tail 1") is None


@pytest.mark.slow
def test_train_with_a_yaml_config_body(shell: Any, tmp_path: Path) -> None:
    package = trainers.write_trainer(tmp_path / "src")
    body = f"package-path: {package}\nmodule-name: trainer.task\nscaleTier: BASIC\nargs: ['--steps', '2']\n"
    panel = shell.run_cell_magic("ml", "train cfg_job --config -", body)
    record = panel.wait(timeout=120)
    assert record.job_id == "cfg_job"
    assert record.training_input["scaleTier"] == "BASIC"
    assert record.training_input["args"][-2:] == ["--steps", "2"]


@pytest.mark.slow
def test_tune_reads_its_hyperparameters_from_the_body(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tuner = trainers.write_tuned_trainer(tmp_path / "tuner")
    body = (
        f"package-path: {tuner}\nmodule-name: tuner.task\n"
        "hyperparameters:\n  goal: MAXIMIZE\n  hyperparameterMetricTag: accuracy\n"
        "  maxTrials: 2\n  maxParallelTrials: 2\n  params:\n"
        "  - {parameterName: C, type: DOUBLE, minValue: 0.01, maxValue: 1, scaleType: UNIT_LOG_SCALE}\n"
    )
    panel = shell.run_cell_magic("ml", "tune", body)
    assert panel.job_id.startswith("tune_") and panel.tuning is not None
    assert panel.wait(timeout=300).state == "SUCCEEDED", panel.logs()
    panel.tuning.refresh()
    assert len(panel.tuning.trials) == 2
    assert "Best: trial" in panel.text()
    assert "needs a trainingInput with a 'hyperparameters'" in fails(
        shell, f"%%ml tune\npackage-path: {tuner}\nmodule-name: tuner.task\n", capsys
    )


@pytest.mark.slow
def test_batch_predict_and_notebook_jobs(
    shell: Any, deployed: str, tmp_path: Path, iris_features: Any
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f"{row}\n" for row in iris_features[:10].tolist()))
    out = tmp_path / "out"
    panel = shell.run_line_magic(
        "ml", f"batch_predict --model iris --input-paths {inputs} --output-path {out} --data-format json"
    )
    assert panel.wait(timeout=120).state == "SUCCEEDED", panel.logs()
    assert panel.record.prediction_output["predictionCount"] == "10"
    notebook = parameterised_notebook(tmp_path / "nb" / "divide.ipynb")
    panel = shell.run_cell_magic(
        "ml", f"notebook nb_job {notebook}", "parameter:\n  divisor: 4\n  label: quarter\n"
    )
    assert panel.wait(timeout=180).state == "SUCCEEDED", panel.logs()
    assert panel.record.notebook_input["parameters"] == {"divisor": 4, "label": "quarter"}
    assert panel.record.progress["done"] == panel.record.progress["total"]


def test_local_predict_and_local_train(
    shell: Any, sklearn_model: Any, iris_features: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["X"] = iris_features[:2]
    result = shell.run_line_magic("ml", f"local predict --model-dir {sklearn_model[0]} --instances X")
    assert result["prediction"].tolist() == sklearn_model[1].predict(iris_features[:2]).tolist()
    shell.run_cell_magic("ml", "local train -- --epochs 1", EPOCH_SCRIPT)
    assert "Epoch 1/1" in capsys.readouterr().out


@pytest.mark.slow
def test_server_start_status_stop(
    shell: Any, deployed: str, capsys: pytest.CaptureFixture[str], iris_features: Any
) -> None:
    port = free_port()
    status = shell.run_line_magic("ml", f"server start --port {port}")
    try:
        assert status["url"] == f"http://127.0.0.1:{port}"
        assert shell.run_line_magic("ml", "server status")["pid"] == status["pid"]
        assert "runs already" in fails(shell, f"%ml server start --port {port}", capsys)
        body = {"instances": iris_features[:2].tolist()}
        code, reply = call_http(status["url"], "POST", "/v1/projects/default/models/iris:predict", body)
        assert code == 200 and len(reply["predictions"]) == 2
    finally:
        shell.run_line_magic("ml", "server stop")
    assert shell.run_line_magic("ml", "server status") is None
    assert "No mlnb server is running" in capsys.readouterr().out


@pytest.mark.slow
def test_tensorboard_on_a_job_directory(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logdir = tmp_path / "tb"
    logdir.mkdir()
    board = shell.run_line_magic("ml", f"tensorboard start --logdir {logdir}")
    try:
        assert "TensorBoard" in fetch_text(board["url"].rstrip("/"), "/")
        assert [b["port"] for b in shell.run_line_magic("ml", "tensorboard list")] == [board["port"]]
        again = shell.run_line_magic("ml", f"tensorboard start --logdir {logdir}")
        assert again["pid"] == board["pid"]
    finally:
        shell.run_line_magic("ml", "tensorboard stop")
    assert shell.run_line_magic("ml", "tensorboard list") == []
    assert "give --logdir DIR or --job JOB" in fails(shell, "%ml tensorboard start", capsys)


def test_every_registry_command_through_the_shell(
    shell: Any, sklearn_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlnb.widgets import ModelBrowser

    model = shell.run_line_magic("ml", "models create census --description people --labels team=ml")
    assert model.name == "census" and model.labels == {"team": "ml"}
    assert shell.run_line_magic("ml", "models describe census").description == "people"
    updated = shell.run_line_magic("ml", "models update census --update-labels stage=dev")
    assert updated.labels == {"team": "ml", "stage": "dev"}
    shell.run_line_magic("ml", f"versions create v1 --model census --origin {sklearn_model[0]}")
    shell.run_line_magic("ml", f"versions create v2 --model census --origin {sklearn_model[0]}")
    assert shell.run_line_magic("ml", "versions describe v2 --model census").state == "READY"
    described = shell.run_line_magic("ml", "versions update v2 --model census --description two")
    assert described.description == "two"
    assert shell.run_line_magic("ml", "versions set-default v2 --model census").is_default
    capsys.readouterr()
    assert shell.run_line_magic("ml", "versions delete v1 --model census") is None
    assert "Deleted version [v1]" in capsys.readouterr().out
    history = shell.run_line_magic("ml", "models history census")
    assert isinstance(history, pd.DataFrame) and "DEFAULT_CHANGED" in set(history["action"]), history
    browser = shell.run_line_magic("ml", "browse --model census")
    assert isinstance(browser, ModelBrowser) and browser.version == "v2"
    assert "census  (default: v2)" in browser.text()
    assert "versions" in fails(shell, "%ml models delete census", capsys)
    shell.run_line_magic("ml", "versions delete v2 --model census")
    shell.run_line_magic("ml", "models delete census")
    assert shell.run_line_magic("ml", "models").empty


@pytest.mark.slow
def test_jobs_cancel_update_and_tensorboard_on_a_job(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_dir = tmp_path / "runs" / "sleepy"
    panel = shell.run_cell_magic(
        "ml", f"train sleepy --job-dir {job_dir}", "import time\nprint('up', flush=True)\ntime.sleep(60)\n"
    )
    updated = shell.run_line_magic("ml", "jobs update sleepy --update-labels team=ml")
    assert updated.record.labels == {"team": "ml"}
    cancelled = shell.run_line_magic("ml", "jobs cancel sleepy")
    assert cancelled.job_id == "sleepy"
    assert panel.wait(timeout=60).state == "CANCELLED"
    job_dir.mkdir(parents=True, exist_ok=True)
    board = shell.run_line_magic("ml", "tensorboard start --job sleepy")
    try:
        assert board["logdir"] == str(job_dir)
    finally:
        shell.run_line_magic("ml", "tensorboard stop")
    assert "CANCELLED" in fails(shell, "%ml jobs cancel sleepy", capsys)


def test_waiting_on_a_failed_job_hands_back_its_panel_and_says_why(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    panel = shell.run_cell_magic(
        "ml", "train mg_fail", "import sys\nprint('no data', flush=True)\nsys.exit(3)\n"
    )
    capsys.readouterr()
    job = shell.run_line_magic("ml", "jobs wait mg_fail --timeout 120")
    assert job.job_id == panel.job_id == "mg_fail"
    assert job.state == "FAILED" and "exited with a non-zero status of 3" in (job.record.error_message or "")
    assert "Job mg_fail ended FAILED: The replica master-replica-0 exited" in capsys.readouterr().err


def test_a_body_read_wrong_says_how_it_was_read_in_one_line(
    shell: Any, deployed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = fails(shell, "%%ml predict --model iris\n[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]", capsys)
    assert message.endswith("(the cell body was read as 1 instance, one JSON instance a line)")
    assert "\n" not in message
    message = fails(shell, "%%ml predict --model iris\ninstances: [1, 2\n  bad: [", capsys)
    assert message.startswith("the cell body is neither JSON lines nor YAML (") and "\n" not in message


def test_a_notebook_that_starts_from_scratch_runs_twice_in_one_kernel(
    shell: Any, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    """As the example notebooks begin: remove their folder, point MLNB_HOME
    into it, and make the same things again (the kernel's Engine follows)."""
    import shutil

    work = tmp_path / "work"
    for run in range(2):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        os.environ["MLNB_HOME"] = str(work / "home")  # restored by the fixture's monkeypatch
        shell.run_line_magic("ml", f"deploy iris v1 --origin {sklearn_model[0]}")
        models = shell.run_line_magic("ml", "models list")
        assert models["name"].tolist() == ["iris"], run
    assert (work / "home" / "mlnb.db").is_file()
    elsewhere = tmp_path / "other-home"
    os.environ["MLNB_HOME"] = str(elsewhere)  # another home: another Engine
    assert shell.run_line_magic("ml", "models list").empty


def test_hints_name_magics_in_a_notebook(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a message tells a notebook user to run is a %ml command."""
    trainer = trainers.write_trainer(tmp_path)
    capsys.readouterr()
    shell.run_line_magic(
        "ml",
        f"jobs submit training hinted --package-path {trainer} --module-name trainer.task --format table",
    )
    out = capsys.readouterr().out
    assert "Follow it with: %ml jobs stream-logs hinted" in out and "mlnb jobs" not in out
    assert "List models with: %ml models list" in fails(shell, "%ml models describe ghost", capsys)
    engine_of_shell = shell.run_line_magic("ml", "jobs wait hinted --timeout 120")
    assert engine_of_shell.state == "SUCCEEDED"


def test_compare_is_a_frame_of_the_shadows_disagreements(
    shell: Any,
    deployed: str,
    sklearn_model: tuple[Path, Any],
    iris_features: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from support.waiting import wait_for

    shell.run_line_magic("ml", f"deploy iris v2 --origin {sklearn_model[0]}")
    shell.run_line_magic("ml", "models update iris --shadow v2")
    shell.user_ns["X"] = np.asarray(iris_features[:3])
    shell.run_line_magic("ml", "predict --model iris --instances X")

    def copied() -> Any:
        frame = shell.run_line_magic("ml", "compare iris")
        return [frame] if frame.attrs["comparison"]["copies"] == 1 else None

    (compared,) = wait_for(copied, "the shadow's copy")
    # The same model behind both: every instance agrees, no row to show.
    assert compared.empty and compared.attrs["comparison"]["agreement"] == 1.0
    assert compared.attrs["comparison"]["instances"] == 3
    message = fails(shell, "%ml rollout iris --canary v2 --steps 50,20", capsys)
    assert "steps must rise to 100" in message


def test_schedule_takes_its_job_template_from_the_cell_body(
    shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLNB_JOB_HOST", "service")  # the team's hosts fire it: none runs here
    shell.user_ns["day"] = "%Y%m%d"
    body = (
        "predictionInput:\n  modelName: census\n  dataFormat: JSON\n"
        "  inputPaths: ['data/{{ run_time | $day }}/*.json']\n  outputPath: out\n"
    )
    record = shell.run_cell_magic("ml", "schedule nightly --cron '0 2 * * *' --time-zone Europe/Paris", body)
    assert record.name == "nightly" and record.state == "ACTIVE"
    assert record.spec["jobTemplate"]["predictionInput"]["inputPaths"] == [
        "data/{{ run_time | %Y%m%d }}/*.json"
    ]
    assert record.next_run_time.hour in (1, 0)  # 2 a.m. in Paris, in UTC
    listed = shell.run_line_magic("ml", "schedules list")
    assert "nightly" in str(listed)
    with pytest.raises(Exception, match="needs its job template in the cell body"):
        shell.run_line_magic("ml", "schedule empty --every 1h")


def test_a_pipeline_cell_runs_as_a_job_with_its_steps_in_the_panel(
    shell: Any, sklearn_model: tuple[Path, Any]
) -> None:
    shell.user_ns["model_dir"] = str(sklearn_model[0])
    body = (
        "steps:\n"
        "- name: deploy\n"
        "  deploy: {model: flowers, version: v1, deploymentUri: $model_dir}\n"
        "- name: promote\n"
        "  needs: [deploy]\n"
        "  setDefault: {model: flowers, version: '{{ steps.deploy.version }}'}\n"
    )
    panel = shell.run_cell_magic("ml", "pipeline flowers_pipeline", body)
    record = panel.wait(timeout=120)
    assert record.state == "SUCCEEDED", record.error_message
    assert [(s["name"], s["state"]) for s in record.progress["steps"]] == [
        ("deploy", "SUCCEEDED"),
        ("promote", "SUCCEEDED"),
    ]
    # What a widget panel shows of it (this shell runs without widgets).
    from mlnb.widgets.job_panel import pipeline_view

    assert record.progress["layers"] == [["deploy"], ["promote"]]
    shown = pipeline_view(record.progress)
    assert (
        shown.count(">SUCCEEDED</span>") == 2
        and "deploy <span style='color:#5f6368'>(deploy)</span>" in shown
    )
    assert shown.count("<g class='mlnb-step'") == 2 and shown.count("<line ") == 1  # the graph
    with pytest.raises(Exception, match="needs its steps in the cell body"):
        shell.run_line_magic("ml", "pipeline empty_pipeline")
