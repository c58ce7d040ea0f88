"""Tuning jobs end to end: a real trainer package reporting with the real
cloudml-hypertune library, trials as processes of the job host, Optuna's
study in mlnb's store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import trainers

from mlnb.api import Engine
from mlnb.errors import InvalidArgument

pytestmark = [pytest.mark.integration, pytest.mark.slow]

C = {"parameterName": "C", "type": "DOUBLE", "minValue": 0.001, "maxValue": 10, "scaleType": "UNIT_LOG_SCALE"}
WEIGHT = {"parameterName": "class-weight", "type": "CATEGORICAL", "categoricalValues": ["none", "balanced"]}


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    engine = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, cancel_grace_s=1.0)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trainers.write_tuned_trainer(tmp_path_factory.mktemp("tuner"))


def tune(engine: Engine, job_id: str, trainer: Path, hyperparameters: dict[str, Any], **training: Any) -> Any:
    spec = {"hyperparameters": {"hyperparameterMetricTag": "accuracy", **hyperparameters}, **training}
    engine.submit_training_job(job_id, spec, package_path=trainer, module_name="tuner.task")
    return engine.wait_job(job_id, timeout=300)


def results(engine: Engine, job_id: str) -> dict[str, dict[str, Any]]:
    """What each trial's trainer printed, by trial id."""
    found = {}
    for entry in engine.job_logs(job_id):
        if entry.message.startswith("RESULT "):
            body = json.loads(entry.message[len("RESULT ") :])
            found[body["trial"]] = body
    return found


def test_a_real_trainer_tunes_a_scikit_learn_model(engine: Engine, trainer: Path, tmp_path: Path) -> None:
    job = tune(
        engine,
        "tune_real",
        trainer,
        {"goal": "MAXIMIZE", "maxTrials": 3, "maxParallelTrials": 2, "params": [C, WEIGHT]},
        jobDir=str(tmp_path / "runs"),
    )
    assert job.state == "SUCCEEDED", job.error_message
    assert job.kind == "tuning"
    output = job.training_output
    assert output["isHyperparameterTuningJob"] is True and output["completedTrialCount"] == "3"
    assert output["hyperparameterMetricTag"] == "accuracy"
    printed = results(engine, "tune_real")
    assert sorted(printed) == ["1", "2", "3"]
    best = output["trials"][0]
    mine = printed[best["trialId"]]
    # The best trial's parameters and metric are the ones its trainer saw and reported.
    assert float(best["hyperparameters"]["C"]) == pytest.approx(mine["C"])
    assert best["hyperparameters"]["class-weight"] == mine["class_weight"]
    assert best["finalMetric"] == {"trainingStep": "1", "objectiveValue": pytest.approx(mine["accuracy"])}
    assert best["finalMetric"]["objectiveValue"] == max(p["accuracy"] for p in printed.values())
    for trial_id, seen in printed.items():
        assert seen["job_dir"] == str(tmp_path / "runs" / trial_id)  # each trial its own folder
        assert seen["task"]["trial"] == trial_id  # and its id in TF_CONFIG
    frame = engine.trials("tune_real")
    assert list(frame["trialId"]) == [t["trialId"] for t in output["trials"]]
    assert {"C", "class-weight", "objectiveValue", "state"} <= set(frame.columns)


def test_early_stopping_stops_a_trial_that_falls_behind(engine: Engine, trainer: Path) -> None:
    job = tune(
        engine,
        "tune_stop",
        trainer,
        {
            "goal": "MAXIMIZE",
            "maxTrials": 3,
            "enableTrialEarlyStopping": True,
            "params": [{"parameterName": "sleep", "type": "DISCRETE", "discreteValues": [0.0]}],
        },
        args=["--curve-trials", "yes", "--bad-trial", "3"],
    )
    assert job.state == "SUCCEEDED", job.error_message
    trials = {t["trialId"]: t for t in job.training_output["trials"]}
    assert trials["3"]["isTrialStoppedEarly"] is True
    assert not trials["1"]["isTrialStoppedEarly"] and not trials["2"]["isTrialStoppedEarly"]
    assert len(trials["3"]["allMetrics"]) < len(trials["1"]["allMetrics"]) == 39
    assert any("Trial 3: stopped early" in e.message for e in engine.job_logs("tune_stop"))


def test_max_failed_trials_is_honoured(engine: Engine, trainer: Path) -> None:
    params = [{"parameterName": "sleep", "type": "DISCRETE", "discreteValues": [0.0]}]
    failing = ["--curve-trials", "yes", "--fail-trials", "1,2"]
    job = tune(
        engine, "tune_fail", trainer, {"maxTrials": 4, "maxFailedTrials": 2, "params": params}, args=failing
    )
    assert job.state == "FAILED"
    assert "2 trials failed (maxFailedTrials 2)" in (job.error_message or "")
    assert "trial 2 fails on purpose" in (job.error_message or "")
    survived = tune(
        engine,
        "tune_survive",
        trainer,
        {"maxTrials": 3, "maxFailedTrials": 3, "params": params},
        args=failing,
    )
    assert survived.state == "SUCCEEDED", survived.error_message
    states = sorted(t["state"] for t in survived.training_output["trials"])
    assert states == ["FAILED", "FAILED", "SUCCEEDED"]
    # In parallel, the trials that the failure stops are cancelled: the
    # message still names the failure, not them.
    parallel = tune(
        engine,
        "tune_fail_parallel",
        trainer,
        {"maxTrials": 4, "maxParallelTrials": 2, "maxFailedTrials": 2, "params": params},
        args=failing,
    )
    assert parallel.state == "FAILED"
    assert "fails on purpose" in (parallel.error_message or "").split("The last: ")[1]


def test_resume_continues_the_study(engine: Engine, trainer: Path) -> None:
    params = [C]
    first = tune(
        engine, "tune_a", trainer, {"maxTrials": 2, "params": params}, args=["--curve-trials", "yes"]
    )
    assert first.state == "SUCCEEDED", first.error_message
    second = tune(
        engine,
        "tune_b",
        trainer,
        {"maxTrials": 3, "params": params, "resumePreviousJobId": "tune_a"},
        args=["--curve-trials", "yes"],
    )
    assert second.state == "SUCCEEDED", second.error_message
    ids = sorted(int(t["trialId"]) for t in second.training_output["trials"])
    assert ids == [1, 2, 3]  # the old two count, and numbering goes on
    old = {t["trialId"]: t["hyperparameters"] for t in first.training_output["trials"]}
    new = {t["trialId"]: t["hyperparameters"] for t in second.training_output["trials"]}
    assert {k: new[k] for k in old} == old
    assert any("Trial 3: started" in e.message for e in engine.job_logs("tune_b"))
    assert not any("Trial 1: started" in e.message for e in engine.job_logs("tune_b"))


def test_cancelling_a_tuning_job_stops_its_trials(engine: Engine, trainer: Path) -> None:
    spec = {
        "hyperparameters": {"maxTrials": 4, "maxParallelTrials": 2, "hyperparameterMetricTag": "accuracy",
                            "params": [C]},
        "args": ["--sleep", "60"],
    }  # fmt: skip
    engine.submit_training_job("tune_cancel", spec, package_path=trainer, module_name="tuner.task")
    deadline = time.monotonic() + 120
    while sum("started with" in e.message for e in engine.job_logs("tune_cancel")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    engine.cancel_job("tune_cancel")
    job = engine.wait_job("tune_cancel", timeout=60)
    assert job.state == "CANCELLED"
    assert [t["state"] for t in job.training_output["trials"]] == ["CANCELLED", "CANCELLED"]


def test_a_bad_spec_is_refused_at_submission(engine: Engine, trainer: Path) -> None:
    bad = {"hyperparameters": {"params": [{**C, "minValue": 0}]}}
    with pytest.raises(InvalidArgument, match="Parameter 'C': UNIT_LOG_SCALE needs bounds above zero"):
        engine.submit_training_job("tune_bad", bad, package_path=trainer, module_name="tuner.task")
    assert engine.list_jobs() == []


REPORTING_TRAINER = """
import json
import os
import time

trial = os.environ["CLOUD_ML_TRIAL_ID"]
path = os.environ["CLOUD_ML_HP_METRIC_FILE"]
os.makedirs(os.path.dirname(path), exist_ok=True)  # as cloudml-hypertune does
with open(path, "a") as metrics:
    for step in range(1, 6):
        value = 0.01 if trial == "3" else step / 10
        metrics.write(json.dumps({"accuracy": value, "global_step": step, "timestamp": time.time()}) + "\\n")
"""


def test_a_trial_that_ended_on_its_own_is_never_stopped_early(tmp_path: Path) -> None:
    from mlnb.runtime.logs import LogWriter
    from mlnb.training import build_trainer_package
    from mlnb.tuning.execution import TuningExecution

    package = tmp_path / "src" / "reporter"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(REPORTING_TRAINER)
    archive = build_trainer_package(package, tmp_path / "builds")
    spec = {
        "pythonModule": "reporter.task",
        "packageUris": [str(archive)],
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "hyperparameterMetricTag": "accuracy",
            "maxTrials": 3,
            "enableTrialEarlyStopping": True,
            "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1]}],
        },
    }
    log = LogWriter(tmp_path / "log.jsonl")
    tuning = TuningExecution(
        "p", "early", spec, log, tmp_path / "job", tmp_path / "envs", f"sqlite:///{tmp_path / 'mlnb.db'}"
    )
    tuning.prepare()
    tuning.start()
    deadline = time.monotonic() + 120
    while tuning.asked < 3:  # trials 1 and 2 finish; trial 3 starts
        assert tuning.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    third = tuning.running[0]
    assert third.trial_id == "3"
    # Trial 3 reports a falling curve as its last act and exits: by the time
    # the job looks, it has ended, and ended on its own.
    third.execution.replicas[0].process.wait(timeout=60)  # type: ignore[attr-defined]
    while (outcome := tuning.poll()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert outcome.state == "SUCCEEDED"
    output = tuning.outputs()["training_output"]  # type: ignore[index]
    assert output["consumedMLUnits"] > 0  # the three trials' replica hours
    trials = {t["trialId"]: t for t in output["trials"]}
    assert (
        trials["3"]["isTrialStoppedEarly"] is False and trials["3"]["finalMetric"]["objectiveValue"] == 0.01
    )
    tuning.close()
    log.close()
