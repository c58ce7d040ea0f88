"""Random request bodies, as a fuzzer sends them: any JSON value in any
field of ``:predict``, ``models.create``, ``versions.create``,
``jobs.create`` and the patches. Every answer is below 500 and an error
is Google's error body without SQL or a traceback.

Hypothesis runs derandomized (the same examples on every run, so CI is
never the first to meet a case) and bounded in count; the in-process
client sends nothing over a network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient
from support.fuzzing import FUZZ, json_values

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.server import create_app, schemas

BASE = "/v1/projects/default"


# Names that pass the naming rules, so that bodies get past them to what
# lies behind.
valid_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
TYPED: dict[str, st.SearchStrategy[Any]] = {
    schemas.STRING: st.text(max_size=12) | valid_names,
    schemas.BOOLEAN: st.booleans(),
    schemas.INT64: st.integers() | st.integers().map(str),
    schemas.MAP_OF_STRINGS: st.dictionaries(
        st.text(max_size=8) | valid_names, st.text(max_size=8), max_size=3
    ),
    schemas.LIST_OF_STRINGS: st.lists(st.text(max_size=8), max_size=3),
    schemas.OBJECT: st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    schemas.LIST: st.lists(json_values, max_size=3),
}


def bodies(fields: dict[str, str], extra: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """JSON objects of the schema's fields (and a few more), each with a
    value of its type three times in four and any JSON value otherwise, a
    name that passes the rules as often; sometimes not an object at all."""

    def mostly(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(right, right, right, json_values)

    required = {name: mostly(valid_names) for name in ("name", "jobId") if name in fields}
    optional = {
        name: mostly(TYPED.get(kind, json_values)) for name, kind in fields.items() if name not in required
    }
    known = st.fixed_dictionaries(required, optional=optional)
    unknown = st.dictionaries(
        st.sampled_from(list(extra) or ["x"]) | st.text(max_size=6), json_values, max_size=3
    )
    objects = st.tuples(known, unknown).map(lambda parts: {**parts[1], **parts[0]})
    return st.one_of(objects, objects, objects, json_values)


@pytest.fixture
def client(home: Path, tmp_path: Path, sklearn_model: tuple[Path, Any]) -> Iterator[TestClient]:
    # Jobs go to a team's queue, so nothing is started here; origins are
    # folders that do not exist, so no deployment copies a real one.
    engine = Engine(Settings.resolve(env={}, home=str(home), actor="fuzzer", job_host="service"))
    engine.create_model("m")
    engine.create_version("m", "v1", sklearn_model[0])  # for the version routes to reach
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as test_client:
        yield test_client
    engine.close()


def assert_answered(answer: Any) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.text)
    if answer.status_code >= 400 and answer.status_code != 404:
        error = answer.json()["error"]
        assert set(error) >= {"code", "message", "status"}
        assert "SQL" not in error["message"] and "Traceback" not in error["message"]


def safe_locations(body: Any, tmp_path: Path) -> Any:
    """A random string as an origin or a package could name a real folder
    (``/``) and copy it: those fields keep their type, not their text."""
    if isinstance(body, dict):
        for field in ("deploymentUri", "packageUris", "inputPaths", "outputPath", "jobDir", "uri"):
            if isinstance(body.get(field), str):
                body[field] = str(tmp_path / "missing" / field)
            elif isinstance(body.get(field), list):
                body[field] = [str(tmp_path / "missing" / str(i)) for i, _ in enumerate(body[field])]
        for nested in ("trainingInput", "predictionInput"):
            safe_locations(body.get(nested), tmp_path)
    return body


@FUZZ
@given(body=bodies(schemas.PREDICT, ("instances",)))
def test_predict_bodies(client: TestClient, body: Any) -> None:
    assert_answered(client.post(f"{BASE}/models/m:predict", json=body))


@FUZZ
@given(body=bodies(schemas.MODEL))
def test_model_bodies(client: TestClient, body: Any) -> None:
    assert_answered(client.post(f"{BASE}/models", json=body))


@FUZZ
@given(body=bodies(schemas.MODEL), mask=st.sampled_from(["labels", "description", "labels,description", "x"]))
def test_model_patches(client: TestClient, body: Any, mask: str) -> None:
    assert_answered(client.patch(f"{BASE}/models/m?updateMask={mask}", json=body))


@FUZZ
@given(body=bodies(schemas.VERSION))
def test_version_bodies(client: TestClient, body: Any, tmp_path: Path) -> None:
    assert_answered(client.post(f"{BASE}/models/m/versions", json=safe_locations(body, tmp_path)))


@FUZZ
@given(
    body=bodies(schemas.JOB),
    training=bodies(
        {
            "scaleTier": schemas.STRING,
            "pythonModule": schemas.STRING,
            "args": schemas.LIST_OF_STRINGS,
            "hyperparameters": schemas.OBJECT,
            "packageUris": schemas.LIST_OF_STRINGS,
        }
    ),
    prediction=bodies(schemas.PREDICTION_INPUT),
    which=st.sampled_from(["trainingInput", "predictionInput", "jobInput", None]),
)
def test_job_bodies(
    client: TestClient, body: Any, training: Any, prediction: Any, which: str | None, tmp_path: Path
) -> None:
    if isinstance(body, dict) and which is not None:
        body[which] = {"trainingInput": training, "predictionInput": prediction}.get(which, training)
        body.setdefault("jobId", "fuzz_job")
    assert_answered(client.post(f"{BASE}/jobs", json=safe_locations(body, tmp_path)))


@FUZZ
@given(
    path=st.sampled_from(
        [
            f"{BASE}/models",
            f"{BASE}/models/m/versions",
            f"{BASE}/jobs",
            f"{BASE}/operations",
            f"{BASE}/models/m/versions/v1",
        ]
    ),
    page_size=st.text(max_size=6),
    token=st.text(max_size=12),
    filter_=st.text(max_size=20),
)
def test_list_queries(client: TestClient, path: str, page_size: str, token: str, filter_: str) -> None:
    params = {"pageSize": page_size, "pageToken": token, "filter": filter_}
    assert_answered(client.get(path, params=params))


@FUZZ
@given(
    body=bodies(schemas.VERSION),
    mask=st.sampled_from(["labels", "description", "description,labels", "framework"]),
    verb=st.sampled_from(["", ":setDefault", ":getIamPolicy", ":testIamPermissions", ":nothing"]),
)
def test_version_patches_and_verbs(client: TestClient, body: Any, mask: str, verb: str) -> None:
    target = f"{BASE}/models/m/versions/v1{verb}"
    if verb:
        assert_answered(client.post(target, json=body))
    else:
        assert_answered(client.patch(f"{target}?updateMask={mask}", json=body))
