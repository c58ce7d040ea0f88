"""Pipelines: train -> deploy -> evaluate -> promote-if-the-gate-passes ->
batch-predict runs end to end in a job host; a second run given the same
reuses every step; a failing step fails the pipeline, and resuming it
reruns only from there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import jobs as support_jobs
from support import trainers

from mlnb.api import Engine
from mlnb.errors import InvalidArgument
from mlnb.pipelines import PipelineSpec

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    engine = Engine(support_jobs.job_settings(home, max_running_jobs=1))  # one slot: a pipeline takes none
    yield engine
    support_jobs.cancel_and_close(engine)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A staged trainer package, a labelled holdout CSV and instances to score."""
    from sklearn.datasets import load_iris

    trainer = trainers.write_model_trainer(tmp_path / "src")
    features, labels = load_iris(return_X_y=True)
    holdout = tmp_path / "holdout.csv"
    rows = ["a,b,c,d,species", *(",".join(map(str, [*f, t])) for f, t in zip(features, labels, strict=True))]
    holdout.write_text("\n".join(rows) + "\n")
    instances = tmp_path / "instances.json"
    instances.write_text("\n".join(json.dumps(list(f)) for f in features[:10]) + "\n")
    return {
        "trainer": str(trainer),
        "holdout": str(holdout),
        "instances": str(instances),
        "root": str(tmp_path),
    }


def pipeline(engine: Engine, files: dict[str, str], gate: str, instances: str) -> dict[str, Any]:
    if _seeded(engine):
        package = engine.get_job("package_seed")
    else:  # a job that stages the trainer package (its own run is beside the point)
        package = engine.submit_training_job(
            "package_seed",
            package_path=files["trainer"],
            module_name="iris_trainer.task",
            args=["--job-dir", "x"],
        )
    uris = (package.training_input or {})["packageUris"]
    version = "projects/default/models/iris/versions/{{ steps.deploy.version }}"
    return {
        "parameters": {"root": files["root"]},
        "steps": [
            {
                "name": "train",
                "job": {
                    "trainingInput": {
                        "packageUris": uris,
                        "pythonModule": "iris_trainer.task",
                        "jobDir": "{{ parameters.root }}/runs/train",
                    }
                },
            },
            {
                "name": "deploy",
                "needs": ["train"],
                "deploy": {
                    "model": "iris",
                    "version": "v_{{ steps.train.shortKey }}",
                    "deploymentUri": "{{ steps.train.jobDir }}/model",
                },
            },
            {
                "name": "evaluate",
                "needs": ["deploy"],
                "evaluate": {
                    "model": "iris",
                    "version": "{{ steps.deploy.version }}",
                    "data": files["holdout"],
                    "target": "species",
                    "dataset": "holdout",
                    "gates": gate,
                },
            },
            {
                "name": "promote",
                "needs": ["evaluate"],
                "when": "{{ steps.evaluate.passed }}",
                "setDefault": {"model": "iris", "version": "{{ steps.deploy.version }}"},
            },
            {
                "name": "predict",
                "needs": ["deploy"],
                "job": {
                    "predictionInput": {
                        "versionName": version,
                        "dataFormat": "JSON",
                        "inputPaths": [instances],
                        "outputPath": "{{ parameters.root }}/scores/{{ steps.deploy.version }}",
                    }
                },
            },
        ],
    }


def _seeded(engine: Engine) -> bool:
    return any(job.job_id == "package_seed" for job in engine.list_jobs())


def states(engine: Engine, job_id: str) -> dict[str, str]:
    progress = engine.get_job(job_id).progress or {}
    return {step["name"]: step["state"] for step in progress.get("steps", [])}


def test_a_pipeline_runs_end_to_end_and_a_second_run_reuses_every_step(
    engine: Engine, files: dict[str, str]
) -> None:
    body = pipeline(engine, files, "holdout:accuracy>=0.8", files["instances"])
    engine.submit_job("pipe_1", "pipeline", body)
    done = engine.wait_job("pipe_1", timeout=300)
    assert done.state == "SUCCEEDED", (done.error_message, [e.message for e in engine.job_logs("pipe_1")])
    assert states(engine, "pipe_1") == dict.fromkeys(
        ("train", "deploy", "evaluate", "promote", "predict"), "SUCCEEDED"
    )
    steps = {s["name"]: s for s in (done.progress or {})["steps"]}
    version = steps["deploy"]["outputs"]["version"]
    assert version.startswith("v_") and engine.get_model("iris").default_version.name == version  # type: ignore[union-attr]
    assert (
        steps["evaluate"]["outputs"]["passed"] is True
        and steps["evaluate"]["outputs"]["metrics"]["accuracy"] > 0.8
    )
    assert engine.get_job("pipe_1_train").state == "SUCCEEDED"
    scored = Path(files["root"]) / "scores" / version
    assert sum(len(p.read_text().splitlines()) for p in scored.glob("prediction.results*")) == 10

    engine.submit_job("pipe_2", "pipeline", body)
    again = engine.wait_job("pipe_2", timeout=300)
    assert again.state == "SUCCEEDED", again.error_message
    assert states(engine, "pipe_2") == dict.fromkeys(
        ("train", "deploy", "evaluate", "promote", "predict"), "CACHED"
    )
    assert not [j for j in engine.list_jobs() if j.job_id.startswith("pipe_2_")]  # no child job ran
    logs = [e.message for e in engine.job_logs("pipe_2")]
    assert "Pipeline done: 5 cached" in logs


def test_a_failed_step_fails_the_pipeline_and_resuming_reruns_only_from_there(
    engine: Engine, files: dict[str, str]
) -> None:
    later = str(Path(files["root"]) / "later.json")  # not there yet: the predict step fails
    body = pipeline(engine, files, "holdout:accuracy>=1.01", later)  # a gate nobody passes
    engine.submit_job("pipe_f", "pipeline", body)
    failed = engine.wait_job("pipe_f", timeout=300)
    assert failed.state == "FAILED"
    assert failed.error_message is not None and failed.error_message.startswith("Step predict failed: ")
    assert "matches no file" in failed.error_message
    first = states(engine, "pipe_f")
    assert (
        first["train"] == first["deploy"] == first["evaluate"] == "SUCCEEDED" and first["predict"] == "FAILED"
    )
    assert first["promote"] in ("SKIPPED", "PENDING")  # its gate failed (or the failure came first)
    assert engine.get_model("iris").default_version is not None  # the first version made is the default

    Path(later).write_text(Path(files["instances"]).read_text())
    engine.resume_job("pipe_f")
    resumed = engine.wait_job("pipe_f", timeout=300)
    assert resumed.state == "SUCCEEDED", resumed.error_message
    second = states(engine, "pipe_f")
    assert second["train"] == second["deploy"] == second["evaluate"] == "CACHED"
    assert second["promote"] == "SKIPPED" and second["predict"] == "SUCCEEDED"
    # Its first attempt was refused at submission (no job); the resumed run's job took the id.
    assert engine.get_job("pipe_f_predict").state == "SUCCEEDED"


def test_parallel_steps_deploy_two_versions_of_a_new_model(
    engine: Engine, sklearn_model: tuple[Path, Any]
) -> None:
    origin = str(sklearn_model[0])
    steps = [
        {"name": f"deploy_{v}", "deploy": {"model": "twins", "version": v, "deploymentUri": origin}}
        for v in ("a", "b")
    ]
    steps.append(
        {
            "name": "promote",
            "needs": ["deploy_a", "deploy_b"],
            "setDefault": {"model": "twins", "version": "b"},
        }
    )
    engine.submit_job("twins_pipe", "pipeline", {"steps": steps})
    done = engine.wait_job("twins_pipe", timeout=120)
    assert done.state == "SUCCEEDED", done.error_message  # both found the model missing: one made it
    assert (done.progress or {})["layers"] == [["deploy_a", "deploy_b"], ["promote"]]
    assert sorted(v.name for v in engine.list_versions("twins")) == ["a", "b"]
    assert engine.get_model("twins").default_version.name == "b"  # type: ignore[union-attr]


def test_bad_pipelines_are_refused_at_submission(engine: Engine) -> None:
    job = {"jobKind": "x"}
    cases = [
        ({"steps": []}, "A pipeline needs steps"),
        ({"steps": [{"name": "a"}]}, "must have one action"),
        ({"steps": [{"name": "a", "job": job, "deploy": {}}]}, "must have one action"),
        ({"steps": [{"name": "a", "job": job}, {"name": "a", "job": job}]}, "Two steps are named 'a'"),
        ({"steps": [{"name": "a", "job": job, "needs": ["b"]}]}, "needs 'b', which is no step"),
        (
            {"steps": [{"name": "a", "job": job, "needs": ["b"]}, {"name": "b", "job": job, "needs": ["a"]}]},
            "need each other in a cycle",
        ),
        ({"steps": [{"name": "a", "deploy": {"model": "m"}}]}, "deploy needs version, deploymentUri"),
        ({"steps": [{"name": "a", "job": {"labels": {}}}]}, "job is a Job body"),
        # A pipeline is a job: mlnb's job options are read beside its steps.
        ({"steps": [{"name": "a", "job": job}], "notifications": {"webhook": "ftp://x"}}, "must be an http"),
    ]
    for body, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            engine.submit_job("bad", "pipeline", body)
    order = PipelineSpec.from_api(
        {"steps": [{"name": "b", "job": job, "needs": ["a"]}, {"name": "a", "job": job}]}
    )
    assert [s.name for s in order.steps] == ["a", "b"]
