"""Every route's error paths over plain HTTP: each answers Google's error
body with the right status and a message that says what to do, and the
server keeps answering afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import model_factory
from support.rest_server import call_http, serve

from mlnb.api import Engine
from mlnb.config import Settings

pytestmark = pytest.mark.integration

M = "/v1/projects/demo/models"
J = "/v1/projects/demo/jobs"
OPS = "/v1/projects/demo/operations"

# (method, path, body, status, canonical status, a part of the message)
CASES: list[tuple[str, str, Any, int, str, str]] = [
    # projects
    ("GET", "/v1/projects/demo:nothing", None, 404, "NOT_FOUND", "No such method"),
    ("PUT", M, {}, 405, "METHOD_NOT_ALLOWED", "Method Not Allowed"),
    # models.create
    ("POST", M, {}, 400, "INVALID_ARGUMENT", "A model name is required"),
    ("POST", M, {"name": "9bad"}, 400, "INVALID_ARGUMENT", "must begin with a letter"),
    ("POST", M, {"name": "a" * 200}, 400, "INVALID_ARGUMENT", "the most allowed is 128"),
    ("POST", M, [1, 2], 400, "INVALID_ARGUMENT", "must be a JSON object, not a list"),
    ("POST", M, {"name": "iris"}, 409, "ALREADY_EXISTS", "already exists"),
    ("POST", M, {"name": "n", "labels": {"Bad": "x"}}, 400, "INVALID_ARGUMENT", "Label key 'Bad'"),
    ("POST", M, {"name": "third"}, 429, "RESOURCE_EXHAUSTED", "quota"),
    # models.list
    ("GET", M + "?pageToken=garbage", None, 400, "INVALID_ARGUMENT", "is not one this server gave"),
    ("GET", M + "?pageToken=LTE=", None, 400, "INVALID_ARGUMENT", "is not one this server gave"),
    ("GET", M + "?pageSize=ten", None, 400, "INVALID_ARGUMENT", "pageSize must be a whole number"),
    ("GET", M + "?filter=nonsense", None, 400, "INVALID_ARGUMENT", "must be KEY=VALUE"),
    # models.get / patch / delete / verbs
    ("GET", M + "/ghost", None, 404, "NOT_FOUND", "ghost"),
    ("GET", M + "/bad-name", None, 400, "INVALID_ARGUMENT", "model name"),
    ("PATCH", M + "/iris", {"description": "x"}, 400, "INVALID_ARGUMENT", "updateMask is required"),
    ("PATCH", M + "/iris?updateMask=regions", {}, 400, "INVALID_ARGUMENT", "cannot change: regions"),
    (
        "PATCH",
        M + "/iris?updateMask=labels",
        {"labels": {"-": "x"}},
        400,
        "INVALID_ARGUMENT",
        "Label key '-'",
    ),
    ("PATCH", M + "/iris?updateMask=description", {"etag": "old"}, 400, "FAILED_PRECONDITION", "etag"),
    ("PATCH", M + "/ghost?updateMask=description", {}, 404, "NOT_FOUND", "ghost"),
    ("DELETE", M + "/iris", None, 400, "FAILED_PRECONDITION", "still has versions"),
    ("DELETE", M + "/ghost", None, 404, "NOT_FOUND", "ghost"),
    ("POST", M + "/iris:explain", {}, 400, "INVALID_ARGUMENT", '"instances" list'),
    ("POST", M + "/ghost:explain", {"instances": [[1]]}, 404, "NOT_FOUND", "ghost"),
    ("POST", M + "/iris:undo", {}, 404, "NOT_FOUND", "No such method"),
    ("POST", M + "/ghost:predict", {"instances": [[1]]}, 404, "NOT_FOUND", "ghost"),
    ("POST", M + "/empty:predict", {"instances": [[1]]}, 400, "FAILED_PRECONDITION", "no default version"),
    ("POST", M + "/iris:predict", {"rows": []}, 400, "INVALID_ARGUMENT", '"instances" list'),
    ("POST", M + "/iris:predict", [1], 400, "INVALID_ARGUMENT", '"instances" list'),
    ("POST", M + "/iris:predict", {"instances": [[1, "x"]]}, 400, "INVALID_ARGUMENT", "Instance 0"),
    ("POST", M + "/iris:predict", {"instances": [{"b64": "%%"}]}, 400, "INVALID_ARGUMENT", "base64"),
    (
        "POST",
        M + "/iris:predict",
        {"instances": [[1.0]]},
        400,
        "INVALID_ARGUMENT",
        "has 1 value; the model expects 4",
    ),
    (
        "POST",
        M + "/iris:predict",
        {"instances": [["a", "b", "c", "d"]]},
        400,
        "INVALID_ARGUMENT",
        "could not predict",
    ),
    # versions.create / list
    ("POST", M + "/iris/versions", {"name": "v9"}, 400, "INVALID_ARGUMENT", "needs deploymentUri"),
    (
        "POST",
        M + "/iris/versions",
        {"name": "9", "deploymentUri": "/x"},
        400,
        "INVALID_ARGUMENT",
        "begin with",
    ),
    (
        "POST",
        M + "/iris/versions",
        {"name": "v9", "deploymentUri": "/nowhere/at/all"},
        400,
        "INVALID_ARGUMENT",
        "does not exist",
    ),
    ("POST", M + "/iris/versions", {"name": "v1", "deploymentUri": "{model}"}, 409, "ALREADY_EXISTS", "v1"),
    ("POST", M + "/ghost/versions", {"name": "v1", "deploymentUri": "{model}"}, 404, "NOT_FOUND", "ghost"),
    (
        "POST",
        M + "/iris/versions",
        {"name": "v9", "deploymentUri": "{model}", "autoScaling": {"minNodes": -2}},
        400,
        "INVALID_ARGUMENT",
        "autoScaling.minNodes must be 0 or more",
    ),
    (
        "POST",
        M + "/iris/versions",
        {"name": "v9", "deploymentUri": "{model}", "batching": {"maxBatchSize": 0}},
        400,
        "INVALID_ARGUMENT",
        "batching.maxBatchSize",
    ),
    (
        "POST",
        M + "/iris/versions",
        {"name": "v9", "deploymentUri": "{model}", "framework": "COBOL"},
        400,
        "INVALID_ARGUMENT",
        "COBOL",
    ),
    ("GET", M + "/ghost/versions", None, 404, "NOT_FOUND", "ghost"),
    # versions.get / patch / delete / verbs
    ("GET", M + "/iris/versions/v7", None, 404, "NOT_FOUND", "v7"),
    ("PATCH", M + "/iris/versions/v1", {}, 400, "INVALID_ARGUMENT", "updateMask is required"),
    ("PATCH", M + "/iris/versions/v1?updateMask=framework", {}, 400, "INVALID_ARGUMENT", "cannot change"),
    ("PATCH", M + "/iris/versions/v1?updateMask=labels", {"etag": "x"}, 400, "FAILED_PRECONDITION", "etag"),
    ("DELETE", M + "/iris/versions/v1", None, 400, "FAILED_PRECONDITION", "default"),
    ("DELETE", M + "/iris/versions/v7", None, 404, "NOT_FOUND", "v7"),
    ("POST", M + "/iris/versions/v7:setDefault", {}, 404, "NOT_FOUND", "v7"),
    ("POST", M + "/iris/versions/broken:setDefault", {}, 400, "FAILED_PRECONDITION", "FAILED"),
    ("POST", M + "/iris/versions/v1:explain", {}, 400, "INVALID_ARGUMENT", '"instances" list'),
    ("POST", M + "/iris/versions/broken:explain", {"instances": [[1]]}, 400, "FAILED_PRECONDITION", "FAILED"),
    ("POST", M + "/iris/versions/v1:undo", {}, 404, "NOT_FOUND", "No such method"),
    ("POST", M + "/iris/versions/broken:predict", {"instances": [[1]]}, 400, "FAILED_PRECONDITION", "FAILED"),
    # operations
    ("GET", OPS + "/nope", None, 404, "NOT_FOUND", "nope"),
    ("POST", OPS + "/nope:cancel", {}, 404, "NOT_FOUND", "nope"),
    ("POST", OPS + "/{operation}:cancel", {}, 400, "FAILED_PRECONDITION", "already done"),
    ("POST", OPS + "/nope:wait", {}, 404, "NOT_FOUND", "No such method"),
    ("GET", OPS + "?pageToken=%%", None, 400, "INVALID_ARGUMENT", "pageToken"),
    # jobs.create / list
    ("POST", J, {"trainingInput": {}}, 400, "INVALID_ARGUMENT", "A job name is required"),
    ("POST", J, {"jobId": "j-1", "trainingInput": {}}, 400, "INVALID_ARGUMENT", "job name"),
    ("POST", J, {"jobId": "j1"}, 400, "INVALID_ARGUMENT", "A job needs trainingInput"),
    ("POST", J, {"jobId": "j1", "trainingInput": {}}, 400, "INVALID_ARGUMENT", "needs a module to run"),
    ("POST", J, {"jobId": "done", "trainingInput": {"pythonModule": "t"}}, 409, "ALREADY_EXISTS", "done"),
    (
        "POST",
        J,
        {"jobId": "b1", "predictionInput": {"dataFormat": "JSON"}},
        400,
        "INVALID_ARGUMENT",
        "inputPaths",
    ),
    ("POST", J, {"jobId": "b1", "predictionInput": [1]}, 400, "INVALID_ARGUMENT", "must be an object"),
    (
        "POST",
        J,
        {
            "jobId": "b1",
            "predictionInput": {
                "inputPaths": ["/no/*.json"],
                "outputPath": "/tmp/o",
                "dataFormat": "JSON",
                "modelName": "iris",
            },
        },
        400,
        "INVALID_ARGUMENT",
        "matches no file",
    ),
    ("GET", J + "?filter=state", None, 400, "INVALID_ARGUMENT", "must be KEY=VALUE"),
    # jobs.get / patch / cancel / verbs
    ("GET", J + "/ghost", None, 404, "NOT_FOUND", "ghost"),
    ("POST", J + "/ghost:cancel", {}, 404, "NOT_FOUND", "ghost"),
    ("POST", J + "/done:cancel", {}, 400, "FAILED_PRECONDITION", "already ended"),
    ("POST", J + "/done:pause", {}, 404, "NOT_FOUND", "No such method"),
    ("PATCH", J + "/done", {"labels": {}}, 400, "INVALID_ARGUMENT", "updateMask is required"),
    ("PATCH", J + "/done?updateMask=state", {}, 400, "INVALID_ARGUMENT", "cannot change: state"),
    (
        "PATCH",
        J + "/done?updateMask=labels",
        {"labels": {"A": "b"}},
        400,
        "INVALID_ARGUMENT",
        "Label key 'A'",
    ),
    ("PATCH", J + "/done?updateMask=labels", {"etag": "x"}, 400, "FAILED_PRECONDITION", "etag"),
    ("PATCH", J + "/ghost?updateMask=labels", {}, 404, "NOT_FOUND", "ghost"),
    ("PATCH", J + "/done?updateMask=labels", b"{", 400, "INVALID_ARGUMENT", "not valid JSON"),
    # anywhere
    ("GET", "/v1/nowhere", None, 404, "NOT_FOUND", "Not Found"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """One server over a store holding a model with a READY default and a
    FAILED version, an empty model, an ended job and a done operation."""
    root = tmp_path_factory.mktemp("errors")
    settings = Settings.resolve(
        env={}, home=str(root / "home"), project="demo", model_quota=2, job_host_idle_s=3.0
    )
    engine = Engine(settings)
    origin, _ = model_factory.sklearn_pipeline_dir(root / "model")
    engine.create_model("iris")
    engine.create_version("iris", "v1", origin)
    engine.create_version("iris", "broken", origin, framework="XGBOOST")
    assert engine.get_version("iris", "broken").state == "FAILED"
    engine.create_model("empty")
    operation = engine.delete_model_operation("empty")
    engine.create_model("empty")
    engine.submit_training_job("done", {"pythonModule": "trainer.task", "packageUris": ["/nowhere.tar.gz"]})
    assert engine.wait_job("done", timeout=120).state == "FAILED"  # no such package
    engine.close()
    for server in serve(settings):
        yield server, {"model": str(origin), "operation": operation.operation_id}


@pytest.mark.parametrize(("method", "path", "body", "status", "canonical", "message"), CASES)
def test_each_error_path(
    world: tuple[str, dict[str, str]],
    method: str,
    path: str,
    body: Any,
    status: int,
    canonical: str,
    message: str,
) -> None:
    server, names = world
    path = path.replace("{operation}", names["operation"])
    if isinstance(body, dict):
        body = {k: v.replace("{model}", names["model"]) if isinstance(v, str) else v for k, v in body.items()}
    raw = body if isinstance(body, bytes) else None
    got_status, got = call_http(server, method, path, None if raw else body, raw=raw)
    assert got_status == status, got
    assert got["error"]["code"] == status and got["error"]["status"] == canonical, got
    assert message in got["error"]["message"], got
    # An API client reads what went wrong, not a command line to type.
    assert "mlnb " not in got["error"]["message"] and "%ml" not in got["error"]["message"], got
    # The server still answers.
    ok_status, _ = call_http(server, "GET", "/healthz")
    assert ok_status == 200


def test_a_good_request_after_all_the_errors(world: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    server, _ = world
    status, body = call_http(server, "POST", M + "/iris:predict", {"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert status == 200 and len(body["predictions"]) == 1
