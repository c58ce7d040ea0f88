"""Bodies of the wrong types, as a fuzzer found them, answer 400 naming the
field, never 500 (nor SQL); the Engine refuses the same values from Python;
and the field types mlnb checks are those of ML Engine's discovery document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from support import ml_v1

from mlnb.api import Engine
from mlnb.errors import InvalidArgument
from mlnb.server import create_app, schemas

MODELS = "/v1/projects/default/models"


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    engine.create_model("m")
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", MODELS, {"name": "a", "labels": "x"}, "model.labels must be a map of strings"),
        ("POST", MODELS, {"name": "a", "labels": [1, 2]}, "model.labels must be a map of strings"),
        ("POST", MODELS, {"name": "a", "description": {"a": 1}}, "model.description must be a string"),
        ("POST", MODELS, {"name": "a", "regions": "x"}, "model.regions must be a list of strings"),
        ("POST", MODELS, {"name": "a", "onlinePredictionLogging": "yes"}, "must be true or false"),
        ("PATCH", f"{MODELS}/m?updateMask=labels", {"labels": "x"}, "model.labels must be a map"),
        ("PATCH", f"{MODELS}/m?updateMask=description", {"description": []}, "model.description must be"),
        ("POST", f"{MODELS}/m/versions", {"name": "v", "deploymentUri": {"a": 1}}, "version.deploymentUri"),
        ("POST", f"{MODELS}/m/versions", {"name": "v", "predictionClass": ["a"]}, "version.predictionClass"),
        ("POST", f"{MODELS}/m:predict", {"instances": [[1]], "signature_name": {"a": 1}}, "signature_name"),
        (
            "POST",
            "/v1/projects/default/jobs",
            {"jobId": "j", "predictionInput": {"inputPaths": 5, "outputPath": "/o", "dataFormat": "JSON"}},
            "job.predictionInput.inputPaths must be a list of strings",
        ),
        ("POST", "/v1/projects/default/jobs", {"jobId": "j", "labels": [1]}, "job.labels must be a map"),
    ],
)
def test_a_wrong_type_is_a_400_that_names_the_field(
    client: TestClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    answer = client.request(method, path, json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and field in error["message"]
    assert "SQL" not in error["message"] and "Traceback" not in error["message"]


def test_the_engine_refuses_the_same_values(engine: Engine) -> None:
    with pytest.raises(InvalidArgument, match="labels must be a map of strings"):
        engine.create_model("a", labels="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="description must be a string"):
        engine.create_model("b", description={"a": 1})  # type: ignore[arg-type]
    engine.create_model("c")
    with pytest.raises(InvalidArgument, match="description must be a string"):
        engine.update_model("c", description=[])  # type: ignore[arg-type]
    assert [m.name for m in engine.list_models()] == ["c"]


KINDS = {
    ("string", None): {schemas.STRING},
    ("string", "byte"): {schemas.STRING},  # an etag, as it travels
    ("string", "int64"): {schemas.INT64},
    ("integer", "int32"): {schemas.INT64},
    ("boolean", None): {schemas.BOOLEAN},
}


def discovery_kind(field: dict[str, Any]) -> set[str]:
    if "$ref" in field or (field.get("type") == "object" and "additionalProperties" not in field):
        return {schemas.OBJECT}
    if field.get("type") == "object":
        return {schemas.MAP_OF_STRINGS} if field["additionalProperties"].get("type") == "string" else set()
    if field.get("type") == "array":
        return {schemas.LIST_OF_STRINGS} if field["items"].get("type") == "string" else {schemas.LIST}
    return KINDS.get((field.get("type"), field.get("format")), set())


@pytest.mark.parametrize(
    ("schema", "name"),
    [
        (schemas.MODEL, "GoogleCloudMlV1__Model"),
        (schemas.VERSION, "GoogleCloudMlV1__Version"),
        (schemas.JOB, "GoogleCloudMlV1__Job"),
        (schemas.PREDICTION_INPUT, "GoogleCloudMlV1__PredictionInput"),
    ],
)
def test_the_checked_types_are_the_discovery_documents(schema: dict[str, str], name: str) -> None:
    properties = ml_v1.discovery()["schemas"][name]["properties"]
    for field, kind in schema.items():
        if field not in properties:
            continue  # mlnb's own (batching)
        assert kind in discovery_kind(properties[field]), (name, field, properties[field])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/projects/../models", None),
        ("POST", "/v1/projects/%2e%2e/models", {"name": "dots"}),
        ("POST", "/v1/projects/%2e%2e/jobs", {"jobId": "dotjob", "trainingInput": {}}),
        ("GET", "/v1/projects/%E2%98%83/models", None),
        ("GET", "/v1/projects/default/operations/a%20b", None),
        ("POST", "/v1/projects/default/operations/%2e%2e:cancel", None),
        ("POST", MODELS, {"name": "../../x"}),
        ("POST", MODELS, {"name": "projects/other/models/x"}),
        ("POST", f"{MODELS}/m/versions", {"name": "../v", "deploymentUri": "/tmp"}),
        ("GET", f"{MODELS}?pageSize=-5", None),
    ],
)
def test_names_in_paths_and_bodies_pass_their_rules_first(
    client: TestClient, engine: Engine, method: str, path: str, body: Any
) -> None:
    answer = client.request(method, path, json=body)
    assert answer.status_code in (400, 404), answer.text
    if answer.status_code == 400:
        assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert [m.name for m in engine.list_models()] == ["m"]  # nothing was made
    assert not (engine.settings.home / "dotjob").exists()
    assert sorted(p.name for p in engine.settings.paths.jobs.glob("*")) in ([], ["default"])


def test_a_full_resource_name_of_the_project_is_a_name(client: TestClient) -> None:
    answer = client.post(MODELS, json={"name": "projects/default/models/full"})
    assert answer.status_code == 200 and answer.json()["name"] == "projects/default/models/full"


def test_the_engine_refuses_a_bad_project(engine: Engine) -> None:
    with pytest.raises(InvalidArgument, match="project"):
        engine.create_model("x", project="..")
    with pytest.raises(InvalidArgument, match="project"):
        engine.submit_training_job("j", {"pythonModule": "a"}, project="../up")


@pytest.mark.parametrize(
    ("raw", "may_hold_booleans", "numbers_only"),
    [
        (b'{"instances": [[1.5, 2], [3e2, -4]]}', False, True),
        (b'{"instances": [[true, 2]]}', True, False),
        (b'{"instances": [[1, false]]}', True, False),
        (b'{"instances": [[1, null]]}', False, False),
        (b'{"instances": [[1.5, 2]], "signature_name": "serving_default"}', False, False),
        (b'{"instances": [{"name": "true"}]}', True, False),  # a string: the value check decides
        (b'{"instances": [[1.5, 2]], "k": 3}', False, False),  # another field, no "u" nor "l" in it
        (b'{"instances": [[1.5, "2"]]}', False, False),
        (b'{"instances": [[1.5, 2]]"', False, False),  # not JSON: the parse refuses it
    ],
)
def test_what_a_bodys_text_says_of_its_values(
    raw: bytes, may_hold_booleans: bool, numbers_only: bool
) -> None:
    from mlnb.server.routes import BodyText

    assert BodyText.of(raw) == BodyText(may_hold_booleans, numbers_only)


def test_numeric_requests_are_logged_and_shadowed_as_sent(engine: Engine, tmp_path: Path) -> None:
    """A version that takes arrays holds a numeric request as its array
    only, its lists freed at the check: the prediction log and the shadow
    read them again from the body, as sent (integers stay integers, and a
    PredictRequest wrapper is looked through)."""
    from support import model_factory
    from support.waiting import wait_for

    folder, tree = model_factory.sklearn_pickle_dir(tmp_path / "tree")
    engine.create_model("iris", online_prediction_logging=True)
    engine.create_version("iris", "v1", folder)
    engine.create_version("iris", "v2", folder)
    engine.set_shadow("iris", "v2", percent=100)
    rows = [[5.1, 3, 1.4, 0], [6.7, 3.1, 4.4, 1.4]]
    expected = tree.predict(rows).tolist()
    with TestClient(create_app(engine=engine)) as client:
        bodies = [{"instances": rows}, {"httpBody": {"instances": rows}}, {"instances": rows}]
        for body in bodies:  # the first loads v1; those after take the array alone
            answer = client.post("/v1/projects/default/models/iris:predict", json=body)
            assert answer.status_code == 200 and answer.json()["predictions"] == expected
        logged = wait_for(
            lambda: (entries := engine.prediction_log("iris", limit=20)) and len(entries) >= 6 and entries,
            "three requests logged, and their shadow's copies",
        )
    served = [e for e in logged if "shadowOf" not in e]
    shadowed = [e for e in logged if "shadowOf" in e]
    assert len(served) == 3 and len(shadowed) == 3
    for entry in logged:
        assert entry["instances"] == rows
        assert [type(value) for value in entry["instances"][0]] == [float, int, float, int]
