"""The REST server on a real uvicorn on 127.0.0.1, driven by the official
Google API client for ML Engine (ml v1) and by plain HTTP."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httplib2
import numpy as np
import pytest
from support import trainers
from support.rest_server import call_http, fetch_text, serve

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import InvalidArgument
from mlnb.server import create_app

pytestmark = [
    pytest.mark.integration,
    # httplib2, under the official client, drops a keep-alive socket without closing
    # it when it reconnects; the server is not at fault.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture
def server(home: Path) -> Iterator[str]:
    yield from serve(Settings.resolve(env={}, home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0))


VIEWER = "viewer-token-0123456789"
EDITOR = "editor-token-0123456789"


@pytest.fixture
def guarded(home: Path) -> Iterator[str]:
    yield from serve(
        Settings.resolve(env={}, home=str(home), tokens={"viewer": [VIEWER], "editor": [EDITOR]})
    )


@pytest.fixture
def ml(server: str) -> Iterator[Any]:
    from googleapiclient import discovery

    http = httplib2.Http(timeout=30)
    yield discovery.build(
        "ml", "v1", http=http, static_discovery=True, client_options={"api_endpoint": server}
    )
    http.close()


def job_until(ml: Any, job_id: str, states: tuple[str, ...], tries: int = 1200) -> dict[str, Any]:
    """Read a job through the official client until it reaches one of ``states``."""
    for _ in range(tries):
        job: dict[str, Any] = ml.projects().jobs().get(name=f"projects/demo/jobs/{job_id}").execute()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    return job


def wait_operation(ml: Any, name: str) -> dict[str, Any]:
    for _ in range(600):
        operation = ml.projects().operations().get(name=name).execute()
        if operation.get("done"):
            return operation  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"operation {name} never finished")


def test_the_official_client_runs_the_model_lifecycle(ml: Any, sklearn_model: tuple[Path, Any]) -> None:
    origin, model = sklearn_model
    parent = "projects/demo"
    created = (
        ml.projects()
        .models()
        .create(parent=parent, body={"name": "iris", "labels": {"team": "ml"}})
        .execute()
    )
    assert created["name"] == "projects/demo/models/iris" and created["labels"] == {"team": "ml"}
    operation = (
        ml.projects()
        .models()
        .versions()
        .create(
            parent=f"{parent}/models/iris",
            body={"name": "v1", "deploymentUri": str(origin), "framework": "SCIKIT_LEARN"},
        )
        .execute()
    )
    assert operation["metadata"]["operationType"] == "CREATE_VERSION"
    done = wait_operation(ml, operation["name"])
    assert done["response"]["state"] == "READY" and done["response"]["isDefault"] is True
    answer = ml.projects().predict(name=f"{parent}/models/iris", body={"instances": SAMPLES}).execute()
    assert answer == {"predictions": model.predict(np.asarray(SAMPLES)).tolist()}
    wait_operation(
        ml,
        ml.projects()
        .models()
        .versions()
        .create(parent=f"{parent}/models/iris", body={"name": "v2", "deploymentUri": str(origin)})
        .execute()["name"],
    )
    version = (
        ml.projects()
        .models()
        .versions()
        .setDefault(name=f"{parent}/models/iris/versions/v2", body={})
        .execute()
    )
    assert version["isDefault"] is True
    listed = ml.projects().models().versions().list(parent=f"{parent}/models/iris").execute()
    assert [v["name"].rsplit("/", 1)[1] for v in listed["versions"]] == ["v1", "v2"]
    assert [m["name"] for m in ml.projects().models().list(parent=parent).execute()["models"]] == [
        created["name"]
    ]
    assert (
        ml.projects()
        .models()
        .get(name=f"{parent}/models/iris")
        .execute()["defaultVersion"]["name"]
        .endswith("v2")
    )
    patched = (
        ml.projects()
        .models()
        .patch(name=f"{parent}/models/iris", body={"description": "irises"}, updateMask="description")
        .execute()
    )
    assert patched["description"] == "irises"
    answer = (
        ml.projects().predict(name=f"{parent}/models/iris/versions/v1", body={"instances": SAMPLES}).execute()
    )
    assert len(answer["predictions"]) == 2
    deleted = ml.projects().models().versions().delete(name=f"{parent}/models/iris/versions/v1").execute()
    assert deleted["done"] is True and deleted["metadata"]["operationType"] == "DELETE_VERSION"
    ml.projects().models().versions().delete(name=f"{parent}/models/iris/versions/v2").execute()
    assert ml.projects().models().delete(name=f"{parent}/models/iris").execute()["done"] is True
    assert ml.projects().models().list(parent=parent).execute().get("models", []) == []
    ops = ml.projects().operations().list(name=parent).execute()["operations"]
    assert {o["metadata"]["operationType"] for o in ops} == {
        "CREATE_VERSION",
        "DELETE_VERSION",
        "DELETE_MODEL",
    }
    assert ml.projects().getConfig(name=parent).execute()["serviceAccountProject"] == "demo"


def test_the_official_client_explains_a_versions_predictions(
    ml: Any, server: str, sklearn_model: tuple[Path, Any]
) -> None:
    origin, model = sklearn_model
    parent = "projects/demo/models/iris"
    ml.projects().models().create(parent="projects/demo", body={"name": "iris"}).execute()
    baseline = [5.8, 3.0, 4.3, 1.3]
    config = {"sampledShapleyAttribution": {"numPaths": 6}, "baseline": baseline}
    operation = (
        ml.projects()
        .models()
        .versions()
        .create(parent=parent, body={"name": "v1", "deploymentUri": str(origin), "explanationConfig": config})
        .execute()
    )
    assert wait_operation(ml, operation["name"])["response"]["state"] == "READY"
    got = ml.projects().models().versions().get(name=f"{parent}/versions/v1").execute()
    assert got["explanationConfig"] == config
    for name in (parent, f"{parent}/versions/v1"):
        answer = ml.projects().explain(name=name, body={"instances": SAMPLES}).execute()
        assert answer["predictions"] == model.predict(np.asarray(SAMPLES)).tolist()
        assert answer["method"] == "sampledShapleyAttribution" and answer["numPaths"] == 6
        assert answer["baseline"]["values"] == dict(zip("0123", baseline, strict=True))
        for sample, explanation in zip(SAMPLES, answer["explanations"], strict=True):
            (label,) = explanation["attributions_by_label"]
            probabilities = model.predict_proba(np.asarray([sample]))[0]
            at_baseline = model.predict_proba(np.asarray([baseline]))[0]
            assert label["label_index"] == int(np.argmax(probabilities))
            assert label["example_score"] == pytest.approx(probabilities.max())
            assert label["baseline_score"] == pytest.approx(at_baseline[label["label_index"]])
            total = sum(label["attributions"].values())
            assert total == pytest.approx(label["example_score"] - label["baseline_score"], abs=1e-9)
    # Bad requests are refused as predictions are, and counted.
    status, body = call_http(server, "POST", f"/v1/{parent}:explain", {"instances": [[1.0, 2.0], [1.0]]})
    assert status == 400 and "Instance 1 is not a list of 2 values" in body["error"]["message"]
    status, body = call_http(server, "POST", f"/v1/{parent}:explain", {"rows": []})
    assert status == 400 and '"instances" list' in body["error"]["message"]
    status, body = call_http(
        server,
        "POST",
        f"/v1/{parent}/versions",
        {
            "name": "v2",
            "deploymentUri": str(origin),
            "explanationConfig": {"sampledShapleyAttribution": {"numPaths": 0}},
        },
    )
    assert status == 400 and "numPaths must be a whole number" in body["error"]["message"]
    metrics = fetch_text(server, "/metrics")
    assert 'mlnb_explain_requests_total{code="200",model="iris",version="default"} 1.0' in metrics
    assert 'mlnb_explain_requests_total{code="400",model="iris",version="default"} 2.0' in metrics


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["xgboost", "keras"])
def test_the_official_client_explains_each_framework_with_its_default(
    ml: Any, request: pytest.FixtureRequest, kind: str
) -> None:
    """No explanationConfig: XGBoost's trees get TreeSHAP, Keras integrated
    gradients, each checked against a computation that does not use mlnb."""
    origin, model = request.getfixturevalue(f"{kind}_model")
    parent = f"projects/demo/models/{kind}"
    ml.projects().models().create(parent="projects/demo", body={"name": kind}).execute()
    body = {"name": "v1", "deploymentUri": str(origin)}
    operation = ml.projects().models().versions().create(parent=parent, body=body).execute()
    assert wait_operation(ml, operation["name"])["response"]["state"] == "READY"
    answer = ml.projects().explain(name=parent, body={"instances": SAMPLES}).execute()
    if kind == "xgboost":
        import shap
        import xgboost as xgb

        assert answer["method"] == "treeShapAttribution" and answer["modelCalls"] == 1
        margins = model.predict(xgb.DMatrix(np.asarray(SAMPLES)), output_margin=True)
        # shap's own tree explainer: (instances, features, classes).
        independent = np.asarray(shap.TreeExplainer(model).shap_values(np.asarray(SAMPLES)))
    else:
        assert answer["method"] == "integratedGradientsAttribution" and answer["numIntegralSteps"] == 50
        margins = np.asarray(model.predict_on_batch(np.asarray(SAMPLES, dtype="float32")))
        independent = _finite_difference_gradients_integral(model, np.asarray(SAMPLES), steps=400)
    for i, explanation in enumerate(answer["explanations"]):
        (label,) = explanation["attributions_by_label"]
        index = label["label_index"]
        assert index == int(np.argmax(margins[i]))
        assert label["example_score"] == pytest.approx(float(margins[i][index]), abs=1e-4)
        got = np.array([label["attributions"][str(j)] for j in range(4)])
        total = got.sum()
        tolerance = max(label["approx_error"] * np.abs(got).sum(), 1e-4)
        assert total == pytest.approx(label["example_score"] - label["baseline_score"], abs=tolerance * 1.01)
        want = independent[i, :, index]
        # Integrated gradients' 50 steps miss a ReLU network's kinks by about
        # what the answer's approx_error says; TreeSHAP is exact.
        scale = (5 * label["approx_error"] + 2e-3) * max(np.abs(want).sum(), 1.0)
        assert np.allclose(got, want, atol=scale)


def _finite_difference_gradients_integral(model: Any, x: np.ndarray, steps: int) -> np.ndarray:
    """Integrated gradients from a zero baseline, with the gradients taken by
    central differences of the model's outputs (no GradientTape): (instances,
    features, outputs)."""
    eps = 1e-3
    alphas = (np.arange(steps) + 0.5) / steps  # the midpoint rule
    result = np.zeros((x.shape[0], x.shape[1], 3))
    for j in range(x.shape[1]):
        step = np.zeros(x.shape[1])
        step[j] = eps
        points = (alphas[None, :, None] * x[:, None, :]).reshape(-1, x.shape[1])
        up = np.asarray(model.predict_on_batch((points + step).astype("float64")), dtype=float)
        down = np.asarray(model.predict_on_batch((points - step).astype("float64")), dtype=float)
        gradient = ((up - down) / (2 * eps)).reshape(x.shape[0], steps, 3)
        result[:, j, :] = x[:, j : j + 1] * gradient.mean(axis=1)
    return result


def test_the_official_client_runs_jobs(ml: Any, tmp_path: Path, home: Path) -> None:
    from mlnb.training import build_trainer_package

    trainer = trainers.write_trainer(tmp_path / "src")
    archive = build_trainer_package(trainer, tmp_path / "cache")
    body = {
        "jobId": "rest_job",
        "labels": {"via": "rest"},
        "trainingInput": {
            "packageUris": [str(archive)],
            "pythonModule": "trainer.task",
            "args": ["--steps", "600", "--sleep", "0.1"],
            "region": "us-central1",
        },
    }
    created = ml.projects().jobs().create(parent="projects/demo", body=body).execute()
    assert created["jobId"] == "rest_job" and created["state"] == "QUEUED"
    job = job_until(ml, "rest_job", ("RUNNING",))
    assert job["state"] == "RUNNING"
    ml.projects().jobs().cancel(name="projects/demo/jobs/rest_job", body={}).execute()
    job = job_until(ml, "rest_job", ("CANCELLED",))
    assert job["state"] == "CANCELLED"
    listed = ml.projects().jobs().list(parent="projects/demo", filter="labels.via=rest").execute()
    assert [j["jobId"] for j in listed["jobs"]] == ["rest_job"]
    patched = (
        ml.projects()
        .jobs()
        .patch(
            name="projects/demo/jobs/rest_job",
            updateMask="labels",
            body={"labels": {"via": "rest", "team": "ml"}, "etag": job["etag"]},
        )
        .execute()
    )
    assert patched["labels"] == {"via": "rest", "team": "ml"} and patched["state"] == "CANCELLED"
    assert patched["etag"] != job["etag"]


def test_the_official_client_runs_a_tuning_job(ml: Any, tmp_path: Path) -> None:
    from mlnb.training import build_trainer_package

    archive = build_trainer_package(trainers.write_tuned_trainer(tmp_path / "src"), tmp_path / "cache")
    hyperparameters = {
        "goal": "MAXIMIZE",
        "hyperparameterMetricTag": "accuracy",
        "maxTrials": 2,
        "maxParallelTrials": 2,
        "params": [{"parameterName": "C", "type": "DOUBLE", "minValue": 0.1, "maxValue": 1.0}],
    }
    body = {
        "jobId": "rest_tune",
        "trainingInput": {
            "packageUris": [str(archive)],
            "pythonModule": "tuner.task",
            "args": ["--curve-trials", "yes"],
            "hyperparameters": hyperparameters,
        },
    }
    created = ml.projects().jobs().create(parent="projects/demo", body=body).execute()
    assert created["state"] == "QUEUED"
    job = job_until(ml, "rest_tune", ("SUCCEEDED", "FAILED"))
    assert job["state"] == "SUCCEEDED", job
    output = job["trainingOutput"]
    assert output["isHyperparameterTuningJob"] is True and output["completedTrialCount"] == "2"
    assert [t["state"] for t in output["trials"]] == ["SUCCEEDED", "SUCCEEDED"]
    from googleapiclient.errors import HttpError

    bad = {**body, "jobId": "rest_tune_bad"}
    bad["trainingInput"] = {
        **body["trainingInput"],
        "hyperparameters": {**hyperparameters, "maxParallelTrials": 3},
    }
    with pytest.raises(HttpError) as refused:
        ml.projects().jobs().create(parent="projects/demo", body=bad).execute()
    assert refused.value.resp.status == 400
    assert b"maxParallelTrials (3) is above maxTrials (2)" in refused.value.content


def test_the_official_client_runs_a_batch_prediction_job(
    ml: Any, tmp_path: Path, home: Path, sklearn_model: tuple[Path, Any]
) -> None:
    (tmp_path / "in.jsonl").write_text("[5.1, 3.5, 1.4, 0.2]\n[6.7, 3.0, 5.2, 2.3]\n")
    body = {
        "jobId": "rest_batch",
        "predictionInput": {
            "uri": str(sklearn_model[0]),
            "dataFormat": "JSON",
            "inputPaths": [str(tmp_path / "in.jsonl")],
            "outputPath": str(tmp_path / "out"),
            "region": "us-central1",
        },
    }
    created = ml.projects().jobs().create(parent="projects/demo", body=body).execute()
    assert created["state"] == "QUEUED" and created["predictionInput"]["dataFormat"] == "JSON"
    job = job_until(ml, "rest_batch", ("SUCCEEDED", "FAILED"))
    assert job["state"] == "SUCCEEDED", job
    assert job["predictionOutput"]["predictionCount"] == "2"
    assert job["predictionOutput"]["outputPath"] == str(tmp_path / "out")


def test_errors_are_google_error_bodies(server: str, sklearn_model: tuple[Path, Any]) -> None:
    status, body = call_http(server, "GET", "/v1/projects/demo/models/ghost")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND" and "ghost" in body["error"]["message"]
    status, body = call_http(server, "POST", "/v1/projects/demo/models", {"name": "9bad"})
    assert status == 400 and body["error"] == {
        "code": 400,
        "message": "The model name '9bad' must begin with a letter",
        "status": "INVALID_ARGUMENT",
    }
    status, body = call_http(server, "GET", "/v1/projects/demo/models/..%2F..%2Fetc")
    assert status in (400, 404) and "error" in body
    call_http(server, "POST", "/v1/projects/demo/models", {"name": "m"})
    status, body = call_http(server, "POST", "/v1/projects/demo/models", {"name": "m"})
    assert status == 409 and body["error"]["status"] == "ALREADY_EXISTS"
    status, body = call_http(server, "POST", "/v1/projects/demo/models/m:predict", {"instances": [[1.0]]})
    assert status == 400 and "no default version" in body["error"]["message"]
    status, body = call_http(server, "POST", "/v1/projects/demo/models/m:predict", raw=b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = call_http(server, "POST", "/v1/projects/demo/jobs/nope:cancel", {})
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, body = call_http(server, "GET", "/v1/nowhere")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, body = call_http(server, "GET", "/healthz")
    assert (status, body) == (200, {"status": "ok"})


def test_bad_instances_name_their_index(server: str, sklearn_model: tuple[Path, Any], home: Path) -> None:
    engine = Engine(home=str(home))
    engine.create_model("iris", project="demo")
    engine.create_version("iris", "v1", sklearn_model[0], project="demo")
    status, body = call_http(
        server, "POST", "/v1/projects/demo/models/iris:predict", {"instances": [SAMPLES[0], [1, "x"]]}
    )
    assert status == 400 and "Instance 1: a list must hold one type" in body["error"]["message"]
    # Numbers are checked in bulk when the body holds no boolean: one that
    # does is still checked value by value, and a boolean among numbers refused.
    status, body = call_http(
        server, "POST", "/v1/projects/demo/models/iris:predict", {"instances": [[5.1, 3.5, 1.4, True]]}
    )
    assert status == 400 and "element 3 is a boolean and element 0 is a number" in body["error"]["message"]
    status, body = call_http(server, "POST", "/v1/projects/demo/models/iris:predict", {"instances": {"a": 1}})
    assert status == 400 and "'instances' must be a JSON list" in body["error"]["message"]
    deep = b'{"instances": ' + b"[" * 10000 + b"]" * 10000 + b"}"
    status, body = call_http(server, "POST", "/v1/projects/demo/models/iris:predict", raw=deep)
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = call_http(
        server, "POST", "/v1/projects/demo/models/iris:predict", raw=b'{"instances": [[NaN, 1, 2, 3]]}'
    )
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    big = b'{"instances": [' + b",".join([b"1"] * 100_001) + b"]}"
    status, body = call_http(server, "POST", "/v1/projects/demo/models/iris:predict", raw=big)
    assert status == 400 and "100001 instances in one request" in body["error"]["message"]
    huge = b'{"instances": ["' + b"x" * (11 * 1024 * 1024) + b'"]}'
    status, body = call_http(server, "POST", "/v1/projects/demo/models/iris:predict", raw=huge)
    assert status == 413 and "the most allowed is 10485760" in body["error"]["message"]
    status, body = call_http(server, "POST", "/v1/projects/demo/models/iris:predict", {"instances": SAMPLES})
    assert status == 200 and len(body["predictions"]) == 2  # still answering
    # Names of models and versions that do not exist share one series:
    # anyone may send them, and they must not grow the metrics.
    for path in ("models/nope_1:predict", "models/nope_2:predict", "models/iris/versions/v9:predict"):
        status, _ = call_http(server, "POST", f"/v1/projects/demo/{path}", {"instances": SAMPLES})
        assert status == 404
    metrics = fetch_text(server, "/metrics")
    assert 'mlnb_predict_requests_total{code="404",model="(unknown)",version="(unknown)"} 3.0' in metrics
    assert "nope_1" not in metrics and 'version="v9"' not in metrics
    assert 'mlnb_predict_requests_total{code="200",model="iris",version="default"} 1.0' in metrics
    assert 'mlnb_predict_requests_total{code="400",model="iris",version="default"} 6.0' in metrics
    assert 'mlnb_predict_requests_total{code="413",model="iris",version="default"} 1.0' in metrics
    assert 'mlnb_predict_instances_total{model="iris",version="default"} 2.0' in metrics
    assert "mlnb_predict_latency_seconds_bucket{" in metrics
    assert "mlnb_loaded_versions 1.0" in metrics and "mlnb_predict_in_flight 0.0" in metrics


def test_per_instance_mode_answers_the_good_rows(
    server: str, sklearn_model: tuple[Path, Any], home: Path
) -> None:
    engine = Engine(home=str(home))
    engine.create_model("iris", project="demo")
    engine.create_version("iris", "v1", sklearn_model[0], project="demo")
    instances = [SAMPLES[0], [1.0, "x", 2.0, 3.0], SAMPLES[1], {"nested": {"a": 1}}]
    expected = sklearn_model[1].predict(np.asarray(SAMPLES)).tolist()
    status, body = call_http(
        server, "POST", "/v1/projects/demo/models/iris:predict?perInstance=true", {"instances": instances}
    )
    assert status == 200
    assert body["predictions"] == [expected[0], None, expected[1], None]
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, None), (3, None)]
    assert body["errors"][0]["message"].startswith("Instance 1: a list must hold one type")
    status, body = call_http(
        server, "POST", "/v1/projects/demo/models/iris:predict", {"instances": instances}
    )
    assert status == 400 and "predictions" not in body  # ML Engine's rule without the opt-in


def test_lists_page(server: str) -> None:
    for n in range(5):
        call_http(server, "POST", "/v1/projects/p/models", {"name": f"m{n}"})
    _, first = call_http(server, "GET", "/v1/projects/p/models?pageSize=2")
    assert [m["name"].rsplit("/", 1)[1] for m in first["models"]] == ["m0", "m1"] and first["nextPageToken"]
    _, second = call_http(
        server, "GET", f"/v1/projects/p/models?pageSize=2&pageToken={first['nextPageToken']}"
    )
    _, third = call_http(
        server, "GET", f"/v1/projects/p/models?pageSize=2&pageToken={second['nextPageToken']}"
    )
    assert [m["name"].rsplit("/", 1)[1] for m in second["models"] + third["models"]] == ["m2", "m3", "m4"]
    assert "nextPageToken" not in third


def test_tokens_and_roles(guarded: str, sklearn_model: tuple[Path, Any], home: Path) -> None:
    status, body = call_http(guarded, "GET", "/v1/projects/p/models")
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    status, body = call_http(guarded, "GET", "/v1/projects/p/models", token="wrong-token-0123456789")  # noqa: S106
    assert status == 401
    assert call_http(guarded, "GET", "/healthz")[0] == 200
    status, body = call_http(guarded, "POST", "/v1/projects/p/models", {"name": "m"}, token=VIEWER)
    assert (
        status == 403
        and body["error"]["status"] == "PERMISSION_DENIED"
        and "editor token" in body["error"]["message"]
    )
    assert call_http(guarded, "POST", "/v1/projects/p/models", {"name": "m"}, token=EDITOR)[0] == 200
    assert call_http(guarded, "GET", "/v1/projects/p/models", token=VIEWER)[1]["models"][0]["name"].endswith(
        "/m"
    )
    engine = Engine(home=str(home))
    engine.create_version("m", "v1", sklearn_model[0], project="p")
    status, body = call_http(
        guarded, "POST", "/v1/projects/p/models/m:predict", {"instances": SAMPLES}, token=VIEWER
    )
    assert status == 200 and len(body["predictions"]) == 2
    # Explanations are a viewer's, as predictions are.
    status, body = call_http(
        guarded, "POST", "/v1/projects/p/models/m:explain", {"instances": SAMPLES}, token=VIEWER
    )
    assert status == 200 and len(body["explanations"]) == 2
    assert call_http(guarded, "DELETE", "/v1/projects/p/models/m/versions/v1", token=VIEWER)[0] == 403
    # An evaluation is kept with the version: an editor's; reading them a viewer's.
    labelled = {"instances": SAMPLES, "targets": [0, 2]}
    assert call_http(guarded, "POST", "/v1/projects/p/models/m:evaluate", labelled, token=VIEWER)[0] == 403
    assert call_http(guarded, "POST", "/v1/projects/p/models/m:evaluate", labelled, token=EDITOR)[0] == 200
    path = "/v1/projects/p/models/m/versions/v1/evaluations"
    assert len(call_http(guarded, "GET", path, token=VIEWER)[1]["evaluations"]) == 1


def test_a_version_is_evaluated_over_rest(server: str, sklearn_model: tuple[Path, Any], home: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.metrics import accuracy_score, log_loss

    Engine(home=str(home)).deploy("iris", "v1", sklearn_model[0], project="demo")
    features, labels = load_iris(return_X_y=True)
    body = {"instances": features.tolist(), "targets": labels.tolist(), "dataset": "iris"}
    status, answer = call_http(server, "POST", "/v1/projects/demo/models/iris/versions/v1:evaluate", body)
    assert status == 200, answer
    model = sklearn_model[1]
    assert answer["name"].startswith("projects/demo/models/iris/versions/v1/evaluations/")
    assert answer["task"] == "classification" and answer["rows"] == 150 and answer["dataset"] == "iris"
    assert answer["metrics"]["accuracy"] == pytest.approx(accuracy_score(labels, model.predict(features)))
    assert answer["metrics"]["logLoss"] == pytest.approx(log_loss(labels, model.predict_proba(features)))
    listed = call_http(server, "GET", "/v1/projects/demo/models/iris/versions/v1/evaluations")[1]
    assert [e["evaluationId"] for e in listed["evaluations"]] == [answer["evaluationId"]]
    # The version's body carries its newest evaluation in short (mlnb's field).
    version = call_http(server, "GET", "/v1/projects/demo/models/iris/versions/v1")[1]
    assert version["latestEvaluation"]["evaluationId"] == answer["evaluationId"]
    assert version["latestEvaluation"]["figures"]["accuracy"] == answer["metrics"]["accuracy"]
    listed_versions = call_http(server, "GET", "/v1/projects/demo/models/iris/versions")[1]["versions"]
    assert [v["latestEvaluation"]["evaluationId"] for v in listed_versions] == [answer["evaluationId"]]
    for bad, message in (
        ({"instances": SAMPLES, "targets": [0]}, "2 instances but 1 targets"),
        ({"instances": SAMPLES}, '"targets"'),
        ({"instances": SAMPLES, "targets": [0, 1], "task": "ranking"}, "task 'ranking' is not one of"),
        ({"instances": "x", "targets": []}, "instances must be a list"),
    ):
        status, error = call_http(server, "POST", "/v1/projects/demo/models/iris:evaluate", bad)
        assert status == 400 and message in error["error"]["message"], error
    status, error = call_http(server, "GET", "/v1/projects/demo/models/iris/versions/v9/evaluations")
    assert status == 404


def test_bad_token_settings_are_refused(home: Path) -> None:
    with pytest.raises(InvalidArgument, match="Unknown role 'admin'"):
        create_app(Settings.resolve(env={}, home=str(home), tokens={"admin": ["x" * 20]}))
    with pytest.raises(InvalidArgument, match="use 16 or more"):
        create_app(Settings.resolve(env={}, home=str(home), tokens={"viewer": ["short"]}))


def test_the_server_command_refuses_open_addresses_without_tokens(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlnb.cli import main

    monkeypatch.setenv("MLNB_HOME", str(home))
    assert main(["server", "--host", "0.0.0.0", "--port", "1"]) == 1  # noqa: S104 - refused, never bound
    err = capsys.readouterr().err
    assert err.startswith(
        "mlnb: --host 0.0.0.0 is not a loopback address and no access tokens are configured"
    )
    assert err.count("\n") == 1 and err.endswith("See: mlnb server --help\n")  # one line, no usage block


@pytest.mark.slow
def test_set_default_and_delete_under_load_fail_no_request(server: str, home: Path, tmp_path: Path) -> None:
    from support import model_factory

    classifier_dir, classifier = model_factory.sklearn_pipeline_dir(tmp_path / "cls")
    regressor_dir, regressor = model_factory.sklearn_pickle_dir(tmp_path / "reg")
    admin = Engine(home=str(home))  # another process's view, as the CLI would be
    admin.create_model("live", project="demo")
    admin.create_version("live", "v1", classifier_dir, project="demo")
    old = classifier.predict(np.asarray(SAMPLES)).tolist()
    new = regressor.predict(np.asarray(SAMPLES)).tolist()
    failures: list[Any] = []
    answers: list[Any] = []
    stop = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection(server.removeprefix("http://"), timeout=30)
        payload = json.dumps({"instances": SAMPLES}).encode()
        try:
            while not stop.is_set():
                started = time.perf_counter()
                connection.request("POST", "/v1/projects/demo/models/live:predict", body=payload)
                response = connection.getresponse()
                content = response.read()
                if response.status != 200:
                    failures.append((response.status, content[:200]))
                else:
                    answers.append(json.loads(content)["predictions"])
                # At most 50 requests a second per client: 200 a second in all.
                time.sleep(max(0.0, 0.02 - (time.perf_counter() - started)))
        finally:
            connection.close()

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1.5)
    admin.create_version("live", "v2", regressor_dir, project="demo")
    admin.set_default_version("live", "v2", project="demo")
    time.sleep(2.0)
    admin.delete_version("live", "v1", project="demo")
    time.sleep(2.0)
    stop.set()
    for thread in clients:
        thread.join(timeout=30)
    assert failures == []
    assert len(answers) > 200
    assert answers[0] == old and answers[-1] == new
    assert all(a in (old, new) for a in answers)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_sent_in_full_gets_the_413(server: str, chunked: bool) -> None:
    import http.client

    size = 30 * 1024 * 1024

    def body() -> Iterator[bytes]:
        yield b'{"instances": ["'
        for _ in range(size // 65536):
            yield b"x" * 65536
        yield b'"]}'

    for _ in range(3):
        connection = http.client.HTTPConnection(server.removeprefix("http://"), timeout=60)
        try:
            # The client sends every byte before it reads: the server must
            # answer the 413, not reset the connection under it.
            payload: Any = body() if chunked else b"".join(body())
            headers = {"Content-Type": "application/json"}
            connection.request(
                "POST", "/v1/projects/default/models/m:predict", payload, headers, encode_chunked=chunked
            )
            answer = connection.getresponse()
            error = json.loads(answer.read())["error"]
        finally:
            connection.close()
        assert (answer.status, error["status"]) == (413, "INVALID_ARGUMENT")
        assert "the most allowed" in error["message"]
    assert call_http(server, "GET", "/healthz")[0] == 200


def test_iam_and_locations_through_the_official_client(
    ml: Any, server: str, sklearn_model: tuple[Path, Any]
) -> None:
    from googleapiclient.errors import HttpError

    project = "projects/demo"
    ml.projects().models().create(parent=project, body={"name": "iam"}).execute()
    model = f"{project}/models/iam"
    policy = ml.projects().models().getIamPolicy(resource=model).execute()
    assert policy["bindings"] == [
        {"role": "roles/ml.admin", "members": ["allUsers"]}
    ]  # no tokens: its owner's
    asked = {"permissions": ["ml.models.get", "ml.models.delete", "storage.objects.get"]}
    granted = ml.projects().models().testIamPermissions(resource=model, body=asked).execute()
    assert granted == {"permissions": ["ml.models.get", "ml.models.delete"]}
    with pytest.raises(HttpError) as refused:
        ml.projects().models().setIamPolicy(resource=model, body={"policy": policy}).execute()
    assert refused.value.resp.status == 400 and b"MLNB_TOKENS" in refused.value.content
    with pytest.raises(HttpError) as missing:
        ml.projects().jobs().getIamPolicy(resource=f"{project}/jobs/nojob").execute()
    assert missing.value.resp.status == 404
    listed = ml.projects().locations().list(parent=project).execute()
    assert [loc["name"] for loc in listed["locations"]] == [f"{project}/locations/local"]
    here = ml.projects().locations().get(name=f"{project}/locations/local").execute()
    assert {c["type"] for c in here["capabilities"]} == {"TRAINING", "BATCH_PREDICTION", "ONLINE_PREDICTION"}
    with pytest.raises(HttpError) as elsewhere:
        ml.projects().locations().get(name=f"{project}/locations/us-central1").execute()
    assert elsewhere.value.resp.status == 404
    created = (
        ml.projects()
        .models()
        .versions()
        .create(parent=model, body={"name": "v1", "deploymentUri": str(sklearn_model[0])})
        .execute()
    )
    operation_id = created["name"].rsplit("/", 1)[-1]
    done = wait_operation(ml, created["name"])
    assert done["done"]
    through_location = (
        ml.projects()
        .locations()
        .operations()
        .get(name=f"{project}/locations/local/operations/{operation_id}")
        .execute()
    )
    assert through_location["name"] == created["name"] and through_location["done"]


def test_the_official_clients_set_default_meets_the_models_gates(
    ml: Any, server: str, sklearn_model: tuple[Path, Any], home: Path, tmp_path: Path
) -> None:
    import joblib
    from googleapiclient.errors import HttpError
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier

    features, labels = load_iris(return_X_y=True)
    (tmp_path / "dummy").mkdir()
    joblib.dump(DummyClassifier().fit(features, labels), tmp_path / "dummy" / "model.joblib")
    engine = Engine(home=str(home), project="demo")
    engine.deploy("iris", "v1", sklearn_model[0])
    engine.deploy("iris", "dummy", tmp_path / "dummy")
    name = "projects/demo/models/iris"
    gates = [{"dataset": "holdout", "metric": "accuracy", "min": 0.9}]
    patched = (
        ml.projects()
        .models()
        .patch(name=name, body={"evaluationGates": gates}, updateMask="evaluationGates")
        .execute()
    )
    assert patched["evaluationGates"] == gates
    labelled = {"instances": features.tolist(), "targets": labels.tolist(), "dataset": "holdout"}
    assert call_http(server, "POST", f"/v1/{name}/versions/dummy:evaluate", labelled)[0] == 200
    with pytest.raises(HttpError) as refused:
        ml.projects().models().versions().setDefault(name=f"{name}/versions/dummy", body={}).execute()
    assert refused.value.resp.status == 400
    error = json.loads(refused.value.content)["error"]
    assert error["status"] == "FAILED_PRECONDITION"
    assert "holdout:accuracy>=0.9: dummy has accuracy 0.3333" in error["message"]
    status, body = call_http(
        server, "PATCH", f"/v1/{name}?updateMask=evaluationGates", {"evaluationGates": [{}]}
    )
    assert status == 400 and "evaluationGates[0] needs a dataset" in body["error"]["message"]
    # mlnb's notifications of the model, patched as the gates are; the
    # refusal above is in the model's history.
    wanted = {"email": ["ops@example.com"], "on": ["GATE_REFUSED"]}
    models = ml.projects().models()
    patch = models.patch(name=name, body={"notifications": wanted}, updateMask="notifications")
    assert patch.execute()["notifications"] == wanted
    status, body = call_http(
        server, "PATCH", f"/v1/{name}?updateMask=notifications", {"notifications": {"email": ["ops"]}}
    )
    assert status == 400 and "notifications.email lists e-mail addresses" in body["error"]["message"]
    (refusal,) = [e for e in engine.model_history("iris") if e.action == "GATE_REFUSED"]
    assert refusal.version == "dummy" and refusal.details["to"] == "become the default"
    engine.close()


def test_a_versions_baseline_and_drift_over_rest(
    server: str, sklearn_model: tuple[Path, Any], home: Path
) -> None:
    from sklearn.datasets import load_iris

    features = load_iris(return_X_y=True)[0]
    engine = Engine(home=str(home), project="demo")
    engine.create_model("iris", online_prediction_logging=True)
    engine.create_version("iris", "v1", sklearn_model[0])
    engine.close()
    path = "/v1/projects/demo/models/iris/versions/v1"
    status, error = call_http(server, "GET", f"{path}/drift")
    assert status == 400 and "has no baseline" in error["error"]["message"]
    assert call_http(server, "GET", f"{path}/baseline")[0] == 404
    body = {"instances": features.tolist(), "alerting": {"psiThreshold": 0.25}, "source": "iris training"}
    status, answer = call_http(server, "PUT", f"{path}/baseline", body)
    assert status == 200 and answer["alerting"] == {"psiThreshold": 0.25, "window": 1000}
    assert answer["profile"]["rows"] == 150 and set(answer["profile"]["features"]) == {"0", "1", "2", "3"}
    assert call_http(server, "GET", f"{path}/baseline")[1]["source"] == "iris training"
    shifted = (features[::2] + np.asarray([0.0, 0.0, 3.0, 0.0])).tolist()  # every class, longer petals
    assert call_http(server, "POST", f"{path}:predict", {"instances": shifted})[0] == 200
    status, drifted = call_http(server, "GET", f"{path}/drift?last=10")
    assert status == 200 and drifted["drifted"] == ["2"] and drifted["rows"] == 75, drifted
    status, error = call_http(
        server, "PUT", f"{path}/baseline", {"instances": [[1]], "alerting": {"webhook": "ftp://x"}}
    )
    assert (
        status == 400 and "alerting.webhook must be an http:// or https:// URL" in error["error"]["message"]
    )
    # A baseline from the first instances the version answered: the 75 shifted ones.
    status, answer = call_http(server, "PUT", f"{path}/baseline", {"servedInstances": "50"})
    assert status == 200 and answer["profile"]["rows"] == 50
    assert answer["source"].startswith("the first 50 instances served")
    status, error = call_http(server, "PUT", f"{path}/baseline", {"servedInstances": 500})
    assert status == 400 and "has answered 75 logged instances, not 500" in error["error"]["message"]
    status, error = call_http(server, "PUT", f"{path}/baseline", {})
    assert status == 400 and '{"servedInstances": N}' in error["error"]["message"]
