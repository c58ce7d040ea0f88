"""The mlnb command line, in-process through its main() and once as a real
subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlnb.api import Engine
from mlnb.cli import main

pytestmark = pytest.mark.integration

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("MLNB_ACTOR", "cli-user")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def instances_file(tmp_path: Path) -> Path:
    path = tmp_path / "instances.json"
    path.write_text("\n".join(json.dumps(row) for row in SAMPLES) + "\n")
    return path


def test_models_and_versions_lifecycle(
    cli: Any, sklearn_model: tuple[Path, Any], instances_file: Path
) -> None:
    origin, model = sklearn_model
    assert cli("models", "create", "iris", "--labels", "team=ml")[0] == 0
    code, out, err = cli("versions", "create", "v1", "--model", "iris", "--origin", str(origin))
    assert code == 0, err
    assert "Created version [v1]" in out and "SCIKIT_LEARN" in out and "default" in out
    code, out, _ = cli("models", "list")
    assert out.splitlines() == ["NAME  DEFAULT_VERSION_NAME", "iris  v1"]
    code, out, _ = cli("versions", "list", "--model", "iris", "--format", "json")
    listed = json.loads(out)
    assert listed[0]["name"] == "projects/default/models/iris/versions/v1" and listed[0]["isDefault"]
    code, out, _ = cli(
        "predict", "--model", "iris", "--json-instances", str(instances_file), "--format", "json"
    )
    assert json.loads(out) == {"predictions": model.predict(np.asarray(SAMPLES)).tolist()}
    code, out, _ = cli("models", "describe", "iris")
    assert "name: projects/default/models/iris" in out and "team: ml" in out
    code, out, _ = cli("models", "history", "iris", "--format", "json")
    assert [e["action"] for e in json.loads(out)] == ["MODEL_CREATED", "VERSION_CREATED", "DEFAULT_CHANGED"]
    assert json.loads(out)[0]["actor"] == "cli-user"
    assert cli("models", "update", "iris", "--update-labels", "stage=prod", "--remove-labels", "team")[0] == 0
    assert "stage: prod" in cli("models", "describe", "iris")[1]
    told = ("--notify-email", "ops@example.com, lead@example.com")
    told += ("--notify-on", "gate_refused,default_changed")
    code, out, err = cli("models", "update", "iris", *told, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["notifications"] == {
        "email": ["ops@example.com", "lead@example.com"],
        "on": ["GATE_REFUSED", "DEFAULT_CHANGED"],
    }
    code, _, err = cli("models", "update", "iris", "--notify-on", "SUCCEEDED")
    assert code != 0 and "notifications.on lists events among DEFAULT_CHANGED, GATE_REFUSED" in err
    assert cli("models", "update", "iris", "--clear-notifications")[0] == 0
    assert "notifications" not in cli("models", "describe", "iris")[1]
    assert cli("versions", "delete", "v1", "--model", "iris")[0] == 0
    assert cli("models", "delete", "iris")[0] == 0


def test_a_model_is_deleted_with_its_versions(cli: Any, home: Path, sklearn_model: tuple[Path, Any]) -> None:
    """What a notebook's first cell does to start from scratch in a shared home."""
    from mlnb.api import Engine

    assert cli("models", "create", "wine")[0] == 0
    for version in ("v1", "v2"):
        assert (
            cli("versions", "create", version, "--model", "wine", "--origin", str(sklearn_model[0]))[0] == 0
        )
    engine = Engine(home=str(home))
    stored = [str(v.artifact_uri).removeprefix("file://") for v in engine.list_versions("wine")]
    assert len(stored) == 2 and all(Path(path).is_dir() for path in stored)
    code, _, err = cli("models", "delete", "wine")
    assert code == 1 and "still has versions" in err
    assert cli("models", "delete", "wine", "--with-versions") == (0, "Deleted model [wine].\n", "")
    try:
        assert engine.list_models() == []
        assert not any(Path(path).exists() for path in stored)  # the stored files went too
    finally:
        engine.close()
    assert cli("models", "delete", "wine", "--ignore-not-found")[1] == "No model [wine]: nothing to delete.\n"
    assert cli("models", "delete", "wine")[0] == 1


def test_user_errors_print_one_line_and_exit_nonzero(cli: Any, tmp_path: Path) -> None:
    code, _out, err = cli("models", "create", "9lives")
    assert code == 1
    assert err == "mlnb: The model name '9lives' must begin with a letter\n"
    code, _, err = cli("versions", "describe", "v1", "--model", "ghost")
    assert code == 1 and err.startswith("mlnb: Model 'ghost' does not exist") and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("x")
    cli("models", "create", "m")
    code, _, err = cli("versions", "create", "v1", "--model", "m", "--origin", str(tmp_path / "empty"))
    assert code == 1 and "mlnb: version v1 FAILED: No model file found" in err


def test_bad_instances_file_names_the_line(cli: Any, tmp_path: Path, sklearn_model: tuple[Path, Any]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 3, 4]\n{oops\n")
    code, _, err = cli("local", "predict", "--model-dir", str(sklearn_model[0]), "--json-instances", str(bad))
    assert code == 1 and f"mlnb: {bad}, line 2 is not JSON" in err


def test_local_predict_and_text_instances(cli: Any, tmp_path: Path, sklearn_model: tuple[Path, Any]) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": SAMPLES}))
    code, out, _ = cli(
        "local", "predict", "--model-dir", str(sklearn_model[0]), "--json-request", str(request)
    )
    assert code == 0 and out.splitlines() == [str(p) for p in sklearn_model[1].predict(np.asarray(SAMPLES))]
    code, _, err = cli("local", "predict", "--model-dir", str(sklearn_model[0]))
    assert code == 1 and "exactly one of --json-instances" in err


def test_explain_prints_a_row_an_instance(
    cli: Any, home: Path, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    Engine(home=str(home)).deploy("iris", "v1", sklearn_model[0])
    lines = tmp_path / "instances.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in SAMPLES) + "\n")
    code, out, err = cli("explain", "--model", "iris", "--json-instances", str(lines))
    assert code == 0, err
    header, *rows, summary = out.splitlines()
    assert header.split() == ["PREDICTION", "LABEL", "SCORE", "BASELINE", "ERROR", "0", "1", "2", "3"]
    assert len(rows) == len(SAMPLES)
    assert summary.startswith("sampledShapleyAttribution (10 paths, 1 model call) of version v1, explaining")
    assert "; baseline 0=0, 1=0" in summary
    code, out, _ = cli("explain", "--model", "iris", "--json-instances", str(lines), "--format", "json")
    answer = json.loads(out)
    assert code == 0 and len(answer["explanations"]) == len(SAMPLES)
    assert answer["predictions"] == sklearn_model[1].predict(np.asarray(SAMPLES)).tolist()


def test_versions_create_takes_gclouds_explanation_flags(
    cli: Any, home: Path, tmp_path: Path, sklearn_model: tuple[Path, Any], xgboost_model: tuple[Path, Any]
) -> None:
    sample = tmp_path / "training-sample.jsonl"
    sample.write_text("[1, 2, 3, 4]\n[3, 2, 1, 0]\n[2, 9, 2, 2]\n")
    common = ("--model", "iris", "--origin", str(sklearn_model[0]), "--format", "json")
    assert cli("models", "create", "iris")[0] == 0
    code, out, err = cli(
        "versions", "create", "v1", *common, "--num-paths", "7", "--explanation-baseline", str(sample)
    )
    assert code == 0, err
    # --num-paths alone means sampled Shapley; the sample's medians are the baseline.
    assert json.loads(out)["explanationConfig"] == {
        "sampledShapleyAttribution": {"numPaths": 7},
        "baseline": [2.0, 2.0, 2.0, 2.0],
    }
    code, _, err = cli(
        "versions", "create", "v2", *common, "--explanation-method", "tree-shap", "--num-paths", "7"
    )
    assert code == 1 and "--num-paths is for sampled-shapley, not tree-shap" in err
    csv = tmp_path / "sample.csv"
    csv.write_text("size,colour\n1,red\n3,blue\n5,red\n")
    code, out, err = cli(
        "versions",
        "create",
        "v3",
        *common,
        "--explanation-method",
        "integrated-gradients",
        "--num-integral-steps",
        "20",
        "--explanation-baseline",
        str(csv),
    )
    assert code == 0, err
    assert json.loads(out)["explanationConfig"] == {
        "integratedGradientsAttribution": {"numIntegralSteps": 20},
        "baseline": {"size": 3.0, "colour": "red"},
    }
    # An XGBoost version explains with TreeSHAP by default; the line says what it explains.
    Engine(home=str(home)).deploy("flowers", "v1", xgboost_model[0])
    lines = tmp_path / "instances.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in SAMPLES) + "\n")
    code, out, err = cli("explain", "--model", "flowers", "--json-instances", str(lines))
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "treeShapAttribution (1 model call) of version v1, explaining log-odds (XGBoost's margin); "
        "baseline (the trees' training data, as path-dependent TreeSHAP averages it)"
    )


def test_debug_shows_the_traceback(cli: Any) -> None:
    code, _, err = cli("models", "describe", "ghost", "--debug")
    assert code == 1 and "Traceback" in err and err.rstrip().endswith("List models with: mlnb models list")


def test_the_installed_command_runs(
    home: Path, sklearn_model: tuple[Path, Any], instances_file: Path
) -> None:
    env = {**os.environ, "MLNB_HOME": str(home)}
    mlnb = Path(sys.executable).parent / "mlnb"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(mlnb), *args], env=env, capture_output=True, text=True, timeout=120)

    assert run("models", "create", "iris").returncode == 0
    assert (
        run("versions", "create", "v1", "--model", "iris", "--origin", str(sklearn_model[0])).returncode == 0
    )
    done = run("predict", "--model", "iris", "--json-instances", str(instances_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(p) for p in sklearn_model[1].predict(np.asarray(SAMPLES))]
    failed = run("models", "delete", "iris")
    assert failed.returncode == 1 and failed.stderr.startswith("mlnb: Model 'iris' still has versions")


def test_a_label_update_made_meanwhile_is_not_lost(
    cli: Any, home: Path, monkeypatch: pytest.MonkeyPatch, sklearn_model: tuple[Path, Any]
) -> None:
    from mlnb.api import Engine

    assert cli("models", "create", "race", "--labels", "team=ml")[0] == 0
    assert cli("versions", "create", "v1", "--model", "race", "--origin", str(sklearn_model[0]))[0] == 0
    real_model, real_version = Engine.update_model, Engine.update_version

    # Another user changes the labels between the CLI's read and its write.
    def model_meanwhile(self: Engine, name: str, **kwargs: Any) -> Any:
        real_model(self, name, labels={"team": "ml", "owner": "someone-else"})
        return real_model(self, name, **kwargs)

    def version_meanwhile(self: Engine, model: str, name: str, **kwargs: Any) -> Any:
        real_version(self, model, name, labels={"owner": "someone-else"})
        return real_version(self, model, name, **kwargs)

    monkeypatch.setattr(Engine, "update_model", model_meanwhile)
    monkeypatch.setattr(Engine, "update_version", version_meanwhile)
    code, _, err = cli("models", "update", "race", "--update-labels", "stage=prod")
    assert code == 1 and "changed since it was read" in err
    code, _, err = cli("versions", "update", "v1", "--model", "race", "--update-labels", "stage=prod")
    assert code == 1 and "changed since it was read" in err
    monkeypatch.setattr(Engine, "update_model", real_model)
    code, out, _ = cli("models", "describe", "race", "--format", "json")
    assert json.loads(out)["labels"] == {"team": "ml", "owner": "someone-else"}


def test_a_missing_resource_is_named_with_the_command_that_lists_what_exists(cli: Any) -> None:
    assert cli("models", "create", "there")[0] == 0
    code, _, err = cli("models", "describe", "ghost")
    assert code == 1
    assert (
        err.strip()
        == "mlnb: Model 'ghost' does not exist in project 'default'. List models with: mlnb models list"
    )
    code, _, err = cli("versions", "describe", "v7", "--model", "there")
    assert err.strip() == (
        "mlnb: Model 'there' has no version 'v7' (versions: none). "
        "List them with: mlnb versions list --model there"
    )
    code, _, err = cli("jobs", "describe", "nojob")
    assert (
        err.strip() == "mlnb: Job 'nojob' does not exist in project 'default'. List jobs with: mlnb jobs list"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("versions", "create", "v1", "--model", "m", "--orgin", "x"),
            "mlnb: No such option '--orgin'. Did you mean one of: '--origin', '--region'? "
            "See: mlnb versions create --help",
        ),
        (("models", "create"), "mlnb: Missing argument 'MODEL'. See: mlnb models create --help"),
        (("modles", "list"), "mlnb: No such command 'modles'. Did you mean 'models'? See: mlnb --help"),
    ],
)
def test_a_usage_error_is_one_line_that_names_the_help(cli: Any, args: tuple[str, ...], line: str) -> None:
    code, out, err = cli(*args)
    assert (code, out, err) == (1, "", line + "\n")


def test_lists_filter_sort_limit_and_project_fields_as_gcloud_scripts_use_them(
    cli: Any, sklearn_model: tuple[Path, Any]
) -> None:
    for name, team in (("alpha", "ml"), ("beta", "ops"), ("gamma", "ml")):
        assert cli("models", "create", name, "--labels", f"team={team}")[0] == 0
    assert cli("models", "list", "--filter", "labels.team=ml", "--format", "value(name)") == (
        0,
        "alpha\ngamma\n",
        "",
    )
    assert (
        cli("models", "list", "--sort-by", "~name", "--limit", "2", "--format", "value(name)")[1]
        == "gamma\nbeta\n"
    )
    code, out, _ = cli("models", "list", "--format", "csv(name,labels.team)", "--page-size", "1")
    assert (code, out) == (0, "name,labels.team\nalpha,ml\nbeta,ops\ngamma,ml\n")
    for version in ("v1", "v2"):
        cli("versions", "create", version, "--model", "alpha", "--origin", str(sklearn_model[0]))
    code, out, _ = cli(
        "versions",
        "list",
        "--model",
        "alpha",
        "--filter",
        "isDefault=true",
        "--format",
        "value(name.basename(),state)",
    )
    assert (code, out) == (0, "v1\tREADY\n")
    assert cli("versions", "describe", "v2", "--model", "alpha", "--format", "value(state)")[1] == "READY\n"
    code, _, err = cli("models", "list", "--format", "value()")
    assert code == 1 and "names no field" in err
    code, _, err = cli("models", "list", "--format", "xml")
    assert code == 1 and "'xml' is not table, json, yaml, value(FIELD,...)" in err


def test_operations_are_listed_described_waited_for_and_cancelled(
    cli: Any, home: Path, sklearn_model: tuple[Path, Any]
) -> None:
    from mlnb.api import Engine
    from mlnb.config import Settings

    engine = Engine(Settings.resolve(env={}, home=str(home)))
    engine.create_model("m")
    started = engine.start_version_creation("m", "v1", sklearn_model[0])
    code, out, _ = cli("operations", "wait", started.resource_name, "--format", "json")
    assert code == 0 and json.loads(out)["done"] is True and "response" in json.loads(out)
    code, out, _ = cli("operations", "list", "--format", "value(name.basename(),done)")
    assert (code, out) == (0, f"{started.operation_id}\tTrue\n")
    assert cli("operations", "describe", started.operation_id, "--format", "value(metadata.operationType)")[
        1
    ] == ("CREATE_VERSION\n")
    code, _, err = cli("operations", "cancel", started.operation_id)
    assert code == 1 and "is already done; nothing to cancel" in err
    code, _, err = cli("operations", "describe", "nope")
    assert code == 1 and err.startswith("mlnb: Operation 'nope' does not exist")
    engine.close()


def test_predict_goes_through_the_homes_running_server(
    cli: Any, home: Path, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    from support.rest_server import fetch_text

    from mlnb.api import Engine
    from mlnb.config import Settings
    from mlnb.runtime.ports import free_port

    engine = Engine(Settings.resolve(env={}, home=str(home)))
    engine.deploy("iris", "v1", sklearn_model[0])
    instances = tmp_path / "instances.json"
    instances.write_text("\n".join(json.dumps(row) for row in SAMPLES) + "\n")
    server = engine.start_server(port=free_port())
    try:
        code, out, _ = cli("predict", "--model", "iris", "--json-instances", str(instances))
        assert code == 0
        assert [json.loads(line) for line in out.splitlines()] == sklearn_model[1].predict(
            np.asarray(SAMPLES)
        ).tolist()
        metrics = fetch_text(server["url"], "/metrics")
        assert 'mlnb_predict_requests_total{code="200",model="iris",version="default"} 1.0' in metrics
        bad = tmp_path / "bad.json"
        bad.write_text('[1, "x"]\n')
        code, _, err = cli("predict", "--model", "iris", "--version", "v1", "--json-instances", str(bad))
        assert code == 1 and err.startswith("mlnb: Instance 0: a list must hold one type")
        code, _, err = cli("predict", "--model", "ghost", "--json-instances", str(instances))
        assert code == 1 and err.startswith("mlnb: Model 'ghost' does not exist")
    finally:
        engine.stop_server()
        engine.close()
    code, out, _ = cli("predict", "--model", "iris", "--json-instances", str(instances))  # no server: itself
    assert code == 0 and len(out.splitlines()) == 2


def test_evaluate_prints_the_figures_and_describe_keeps_them(
    cli: Any, home: Path, tmp_path: Path, sklearn_model: tuple[Path, Any], iris_features: Any
) -> None:
    from sklearn.datasets import load_iris
    from sklearn.metrics import accuracy_score

    engine = Engine(home=str(home))
    engine.deploy("iris", "v1", sklearn_model[0])
    engine.deploy("iris", "v2", sklearn_model[0])
    engine.close()
    frame = pd.DataFrame(iris_features, columns=["a", "b", "c", "d"]).assign(species=load_iris().target)
    frame.to_csv(tmp_path / "labelled.csv", index=False)
    data = ("--data", str(tmp_path / "labelled.csv"), "--target", "species")
    code, out, err = cli("evaluate", "--model", "iris", *data)
    assert code == 0, err
    header, *rows, summary = out.splitlines()
    assert header.split() == ["FIGURE", "V1"]
    accuracy = accuracy_score(frame["species"], sklearn_model[1].predict(iris_features))
    assert rows[0].split() == ["accuracy", f"{accuracy:.4g}"]
    assert summary.startswith(f"classification on 150 rows of {tmp_path / 'labelled.csv'} (target species")
    code, out, _ = cli("versions", "describe", "v1", "--model", "iris", "--format", "json")
    (kept,) = json.loads(out)["evaluations"]
    assert kept["rows"] == 150 and kept["figures"]["accuracy"] == pytest.approx(accuracy)
    # The same model twice: no difference, and an interval of nothing but zero.
    code, out, err = cli("evaluate", "--model", "iris", *data, "--compare", "v2", "--no-store")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["FIGURE", "V1", "V2", "DIFFERENCE", "95%", "INTERVAL"]
    assert out.splitlines()[1].split()[-3:] == ["+0", "[+0,", "+0]"]
    code, _, err = cli(
        "evaluate", "--model", "iris", "--data", str(tmp_path / "labelled.csv"), "--target", "x"
    )
    assert code == 1 and "no column 'x'" in err


def test_schedules_from_the_command_line(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLNB_JOB_HOST", "service")  # the team's hosts fire it: none runs here
    config = tmp_path / "job.yaml"
    config.write_text(
        "predictionInput:\n  modelName: census\n  dataFormat: JSON\n"
        "  inputPaths: ['/nowhere/{{ run_time | %Y%m%d }}/*.json']\n  outputPath: /tmp/out\n"
    )
    code, out, err = cli("schedules", "create", "nightly", "--config", str(config), "--every", "1d")
    assert code == 0 and out.startswith("Created schedule [nightly]; its next run is due "), err
    code, out, err = cli("schedules", "create", "weekly", "--config", str(config), "--cron", "0 6 * * MON")
    assert code == 0, err
    code, out, _ = cli("schedules", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "CADENCE", "NEXT_RUN", "LAST_RUN", "RUNS"]
    assert "every 1d" in lines[1] and "cron '0 6 * * MON'" in lines[2]
    code, out, _ = cli("schedules", "pause", "nightly")
    assert (code, out.strip()) == (0, "Paused schedule [nightly].")
    code, out, err = cli("schedules", "update", "nightly", "--every", "12h")
    assert code == 0, err
    code, out, _ = cli("schedules", "describe", "nightly", "--format", "json")
    described = json.loads(out)
    assert described["interval"] == "43200s" and described["state"] == "PAUSED"
    # The run's input matches no file: the run is kept, failed, and says why.
    code, out, err = cli("schedules", "run", "nightly")
    assert code == 1 and "matches no file" in err
    code, out, _ = cli("schedules", "describe", "nightly")
    assert "Runs, newest first:" in out and "FAILED" in out and "matches no file" in out
    code, out, err = cli(
        "schedules", "create", "bad", "--config", str(config), "--every", "1d", "--cron", "@daily"
    )
    assert code == 1 and "exactly one of cron" in err
    code, out, _ = cli("schedules", "delete", "weekly")
    assert (code, out.strip()) == (0, "Deleted schedule [weekly].")
