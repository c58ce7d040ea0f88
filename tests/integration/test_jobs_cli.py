"""The jobs commands and local train through the mlnb CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support import trainers

from mlnb.cli import main
from mlnb.runtime.tfrecord import write_record

pytestmark = pytest.mark.integration

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("MLNB_JOB_HEARTBEAT_S", "0.2")
    monkeypatch.setenv("MLNB_CANCEL_GRACE_S", "1")
    monkeypatch.setenv("MLNB_JOB_HOST_IDLE_S", "3")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_submit_with_config_stream_describe_and_list(cli: Any, tmp_path: Path) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    config = tmp_path / "config.yaml"
    config.write_text(
        "trainingInput:\n  scaleTier: CUSTOM\n  masterType: n1-standard-4\n  workerType: n1-standard-4\n"
        "  workerCount: 1\n  args: ['--steps', '9']\n"
    )
    code, out, err = cli(
        "jobs",
        "submit",
        "training",
        "cli_job",
        "--package-path",
        str(trainer),
        "--module-name",
        "trainer.task",
        "--config",
        str(config),
        "--labels",
        "team=ml",
        "--stream-logs",
        "--",
        "--steps",
        "2",
    )
    assert code == 0, err
    assert "Job [cli_job] submitted successfully." in out
    assert "worker-replica-0" in out and "step 1" in out and "step 2" not in out  # flags override the config
    assert out.rstrip().endswith("Job [cli_job] ended SUCCEEDED.")
    code, out, _ = cli("jobs", "describe", "cli_job", "--format", "json")
    body = json.loads(out)
    assert body["state"] == "SUCCEEDED" and body["trainingInput"]["workerCount"] == 1
    assert body["trainingInput"]["args"] == ["--steps", "2"] and body["labels"] == {"team": "ml"}
    code, out, _ = cli("jobs", "list", "--filter", "state=SUCCEEDED")
    assert out.splitlines()[0].split() == ["JOB_ID", "STATUS", "CREATED"] and "cli_job" in out
    code, out, _ = cli("jobs", "list", "--filter", "state=RUNNING")
    assert out.strip() == "Listed 0 items."
    code, out, _ = cli("jobs", "list", "--filter", "labels.team=ml", "--format", "json")
    assert [j["jobId"] for j in json.loads(out)] == ["cli_job"]
    code, _, err = cli("jobs", "cancel", "cli_job")
    assert code == 1 and err.startswith("mlnb: Job 'cli_job' has already ended (SUCCEEDED)")
    code, out, _ = cli(
        "jobs", "update", "cli_job", "--update-labels", "stage=done", "--remove-labels", "team"
    )
    assert (code, out.strip()) == (0, "Updated job [cli_job].")
    code, out, _ = cli("jobs", "describe", "cli_job", "--format", "json")
    assert json.loads(out)["labels"] == {"stage": "done"}
    code, _, err = cli("jobs", "update", "cli_job")
    assert code == 1 and "--update-labels, --remove-labels or --clear-labels" in err


def test_bad_config_and_tier_are_clear_errors(cli: Any, tmp_path: Path) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    config = tmp_path / "bad.yaml"
    config.write_text("trainingInput: [unclosed\n")
    base = [
        "jobs",
        "submit",
        "training",
        "j1",
        "--package-path",
        str(trainer),
        "--module-name",
        "trainer.task",
    ]
    code, _, err = cli(*base, "--config", str(config))
    assert code == 1 and err.startswith(f"mlnb: --config {config} is not valid YAML")
    code, _, err = cli(*base, "--scale-tier", "GIANT")
    assert code == 1 and "mlnb: Unknown scaleTier 'GIANT'" in err
    code, out, _ = cli("jobs", "list")
    assert out.strip() == "Listed 0 items."


def test_a_failed_job_exits_nonzero_with_its_error(cli: Any, tmp_path: Path) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    code, _, err = cli(
        "jobs",
        "submit",
        "training",
        "f1",
        "--package-path",
        str(trainer),
        "--module-name",
        "trainer.task",
        "--stream-logs",
        "--",
        "--exit",
        "4",
    )
    assert (
        code == 1
        and "mlnb: job f1 FAILED: The replica master-replica-0 exited with a non-zero status of 4" in err
    )
    code, _, err = cli("jobs", "wait", "f1")
    assert code == 1 and "mlnb: job f1 ended FAILED: The replica master-replica-0 exited" in err


def test_local_train_runs_in_the_foreground(cli: Any, tmp_path: Path) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    code, out, _ = cli(
        "local",
        "train",
        "--package-path",
        str(trainer),
        "--module-name",
        "trainer.task",
        "--job-dir",
        str(tmp_path / "out"),
        "--",
        "--steps",
        "2",
    )
    assert code == 0 and "step 1" in out
    assert (tmp_path / "out" / "master-replica-0.done").exists()
    code, out, _ = cli(
        "local",
        "train",
        "--package-path",
        str(trainer),
        "--module-name",
        "trainer.task",
        "--distributed",
        "--worker-count",
        "1",
        "--parameter-server-count",
        "1",
    )
    assert code == 0
    assert "worker-replica-0: step 0" in out and "ps-replica-0: step 0" in out
    code, _, err = cli(
        "local", "train", "--package-path", str(trainer), "--module-name", "trainer.task", "--", "--exit", "5"
    )
    assert code == 1 and "exited with a non-zero status of 5" in err
    code, out, _ = cli("jobs", "list")
    assert out.strip() == "Listed 0 items."  # local training makes no job record


def test_submit_prediction_from_a_model_folder(
    cli: Any, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    source = tmp_path / "in.tfrecord"
    with source.open("wb") as stream:
        for _ in range(5):
            write_record(stream, json.dumps([5.1, 3.5, 1.4, 0.2]).encode())
    code, out, err = cli(
        "jobs",
        "submit",
        "prediction",
        "batch_cli",
        "--model-dir",
        str(sklearn_model[0]),
        "--input-paths",
        str(source),
        "--output-path",
        str(tmp_path / "out"),
        "--data-format",
        "tf-record",
        "--explain",
        "--stream-logs",
    )
    assert code == 0, err
    assert "Shard 1 of 1: 5 predictions, 0 errors" in out and out.rstrip().endswith("ended SUCCEEDED.")
    code, out, _ = cli("jobs", "describe", "batch_cli", "--format", "json")
    body = json.loads(out)
    assert body["predictionOutput"]["predictionCount"] == "5"
    assert body["predictionInput"]["dataFormat"] == "TF_RECORD" and body["predictionInput"]["explain"] is True
    written = (tmp_path / "out" / "prediction.results-00000-of-00001").read_text().splitlines()
    assert len(written) == 5
    # A folder never deployed has no explanationConfig: its model's default (sampled Shapley here).
    explanation = json.loads(written[0])["explanation"]["attributions_by_label"][0]
    assert set(explanation["attributions"]) == {"0", "1", "2", "3"}
    code, _, err = cli("jobs", "resume", "batch_cli")
    assert code == 1 and "only a FAILED or CANCELLED job can be resumed" in err
    code, _, err = cli(
        "jobs",
        "submit",
        "prediction",
        "x",
        "--input-paths",
        "a",
        "--output-path",
        "b",
        "--data-format",
        "json",
    )
    assert code == 1 and "Give --model" in err


def test_a_labelled_csv_job_of_a_model_folder_evaluates_without_a_version(
    cli: Any, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    rows = [[5.1, 3.5, 1.4, 0.2, "0"], [6.7, 3.0, 5.2, 2.3, "2"], [5.9, 3.0, 4.2, 1.5, "1"]] * 4
    source = tmp_path / "holdout.csv"
    source.write_text("a,b,c,d,species\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    code, out, err = cli(
        "jobs",
        "submit",
        "prediction",
        "graded_cli",
        "--model-dir",
        str(sklearn_model[0]),
        "--input-paths",
        str(source),
        "--output-path",
        str(tmp_path / "out"),
        "--data-format",
        "csv",
        "--target",
        "species",
        "--stream-logs",
    )
    assert code == 0, err
    assert "Evaluated on 12 labelled rows (classification): accuracy" in out
    code, out, _ = cli("jobs", "describe", "graded_cli", "--format", "json")
    body = json.loads(out)
    assert body["predictionInput"]["evaluation"] == {"targetField": "species"}
    evaluation = body["predictionOutput"]["evaluation"]
    # A folder never deployed is no version: the evaluation is only in the output folder.
    assert evaluation["rows"] == 12 and "evaluationId" not in evaluation and "version" not in evaluation
    figures = json.loads((tmp_path / "out" / "prediction.evaluation.json").read_text())["metrics"]
    predicted = sklearn_model[1].predict([r[:4] for r in rows])
    assert figures["accuracy"] == sum(int(p) == int(r[4]) for p, r in zip(predicted, rows, strict=True)) / 12
    code, _, err = cli(
        "jobs", "submit", "prediction", "y", "--model-dir", "m", "--input-paths", "a", "--output-path", "b",
        "--data-format", "csv", "--dataset", "holdout",
    )  # fmt: skip
    assert code != 0 and "--dataset names the labelled data of --target" in err


def test_a_tuning_job_from_ml_engines_yaml(cli: Any, tmp_path: Path) -> None:
    trainer = trainers.write_tuned_trainer(tmp_path / "src")
    config = tmp_path / "hptuning_config.yaml"
    config.write_text(
        "trainingInput:\n"
        "  args: ['--curve-trials', 'yes']\n"
        "  hyperparameters:\n"
        "    goal: MAXIMIZE\n"
        "    hyperparameterMetricTag: accuracy\n"
        "    maxTrials: 2\n"
        "    maxParallelTrials: 2\n"
        "    params:\n"
        "      - parameterName: C\n"
        "        type: DOUBLE\n"
        "        minValue: 0.01\n"
        "        maxValue: 1.0\n"
        "        scaleType: UNIT_LOG_SCALE\n"
    )
    code, out, err = cli(
        "jobs", "submit", "training", "cli_tune", "--package-path", str(trainer),
        "--module-name", "tuner.task", "--config", str(config), "--stream-logs",
    )  # fmt: skip
    assert code == 0, err
    assert out.rstrip().endswith("Job [cli_tune] ended SUCCEEDED.")
    code, out, _ = cli("jobs", "describe", "cli_tune")
    assert "isHyperparameterTuningJob: true" in out and "Trials, best first:" in out
    table = out.split("Trials, best first:")[1].strip().splitlines()
    assert table[0].split()[:3] == ["trialId", "state", "objectiveValue"] and len(table) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("minValue: 0.01", "minValue: 0"))
    code, _, err = cli(
        "jobs", "submit", "training", "cli_tune_bad", "--package-path", str(trainer),
        "--module-name", "tuner.task", "--config", str(bad),
    )  # fmt: skip
    assert code == 1 and "Parameter 'C': UNIT_LOG_SCALE needs bounds above zero" in err


def test_command_lines_pasted_from_gcloud_run(
    cli: Any, tmp_path: Path, home: Path, sklearn_model: tuple[Path, Any]
) -> None:
    """Lines of gcloud ai-platform's samples, with only the program name
    changed: the flags that mean something here act, those that name cloud
    places are accepted."""
    from mlnb.api import Engine
    from mlnb.config import Settings

    instances = tmp_path / "instances.json"
    instances.write_text("[5.1, 3.5, 1.4, 0.2]\n")
    version_yaml = tmp_path / "version.yaml"
    version_yaml.write_text(
        f"deploymentUri: {sklearn_model[0]}\nruntimeVersion: '2.11'\npythonVersion: '{PYTHON}'\n"
        "framework: SCIKIT_LEARN\nmachineType: n1-standard-4\nautoScaling:\n  minNodes: 1\n"
        "description: from a config\n"
    )
    trainer = trainers.write_trainer(tmp_path / "src")
    lines = [
        "models create census --regions us-central1 --region us-central1 --enable-logging",
        "models list --region us-central1",
        f"versions create v1 --model census --origin {sklearn_model[0]} --runtime-version 2.11 "
        f"--python-version {PYTHON} --framework scikit-learn --region global --machine-type n1-standard-4 "
        "--accelerator count=1,type=nvidia-tesla-t4 --service-account ml@example.iam.gserviceaccount.com "
        "--staging-bucket gs://a-bucket",
        f"versions create v2 --model census --config {version_yaml} --region global",
        f"predict --model census --version v1 --json-instances {instances} --region us-central1",
        f"jobs submit training census_1 --package-path {trainer} --module-name trainer.task "
        "--region us-central1 --staging-bucket gs://a-bucket --master-machine-type n1-standard-4 "
        "--worker-machine-type n1-standard-4 --worker-count 1 --parameter-server-count 0 "
        "--master-accelerator count=1,type=nvidia-tesla-k80 --async -- --steps 1",
        "jobs list --region us-central1",
        "jobs describe census_1 --region us-central1",
        "versions delete v2 --model census --quiet --region us-central1",
    ]
    for line in lines:
        code, _, err = cli(*line.split())
        assert code == 0, (line, err)
    engine = Engine(Settings.resolve(env={}, home=str(home)))
    v1 = engine.get_version("census", "v1")
    assert (v1.runtime_version, v1.python_version, v1.machine_type) == ("2.11", PYTHON, "n1-standard-4")
    # A Python this mlnb does not run is a clear error, not a surprise later.
    code, _, err = cli(
        *f"versions create v3 --model census --origin {sklearn_model[0]} --python-version 3.7".split()
    )
    assert code == 1 and f"pythonVersion '3.7' cannot be served here: this mlnb runs Python {PYTHON}" in err
    job = engine.wait_job("census_1", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.training_input is not None
    assert {k: job.training_input.get(k) for k in ("scaleTier", "masterType", "workerCount", "region")} == {
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-4",
        "workerCount": 1,
        "region": "us-central1",
    }
    assert job.training_input["masterConfig"] == {
        "acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_K80"}
    }
    assert [v.name for v in engine.list_versions("census")] == ["v1"]
    engine.close()


def test_a_version_from_a_config_and_async(
    cli: Any, tmp_path: Path, home: Path, sklearn_model: tuple[Path, Any]
) -> None:
    from support.waiting import wait_for

    from mlnb.api import Engine
    from mlnb.config import Settings

    config = tmp_path / "version.yaml"
    config.write_text(
        f"deploymentUri: {sklearn_model[0]}\nruntimeVersion: '2.11'\nlabels:\n  team: ml\n"
        "autoScaling:\n  minNodes: 1\ndescription: from a config\n"
    )
    assert cli("models", "create", "m")[0] == 0
    code, out, err = cli(
        "versions", "create", "v1", "--model", "m", "--config", str(config), "--async", "--format", "json"
    )
    assert code == 0, err
    operation = json.loads(out)["name"].rsplit("/", 1)[-1]
    engine = Engine(Settings.resolve(env={}, home=str(home)))
    wait_for(lambda: engine.get_operation(operation).done, "the version's operation")
    version = engine.get_version("m", "v1")
    assert (version.state, version.runtime_version, version.labels, version.description) == (
        "READY",
        "2.11",
        {"team": "ml"},
        "from a config",
    )
    assert version.auto_scaling == {"minNodes": 1}
    config.write_text("deploymentUri: x\nmadeUp: 1\n")
    code, _, err = cli("versions", "create", "v2", "--model", "m", "--config", str(config))
    assert code == 1 and err.startswith(f"mlnb: --config {config} has fields a Version has not: madeUp")
    code, _, err = cli("versions", "create", "v2", "--model", "m")
    assert code == 1 and "Give --origin, or deploymentUri in --config" in err
    engine.close()
