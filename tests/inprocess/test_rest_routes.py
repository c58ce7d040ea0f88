"""The REST routes in process (Starlette's TestClient: no socket, no
server process): the fast tier that `make check` runs, beside the
real-uvicorn tests of tests/integration that stay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mlnb import jobs_api
from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import InvalidArgument
from mlnb.jobs.kinds import JobKindRegistry
from mlnb.server import create_app


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as test_client:
        yield test_client


def error_of(answer: Any) -> tuple[int, str, str]:
    body = answer.json()["error"]
    return answer.status_code, body["status"], body["message"]


def test_a_model_is_created_read_listed_changed_and_deleted(client: TestClient) -> None:
    base = "/v1/projects/default/models"
    created = client.post(base, json={"name": "census", "description": "income", "labels": {"team": "ml"}})
    assert created.status_code == 200 and created.json()["name"] == "projects/default/models/census"
    assert client.get(f"{base}/census").json()["labels"] == {"team": "ml"}
    assert [m["name"] for m in client.get(base).json()["models"]] == ["projects/default/models/census"]
    etag = client.get(f"{base}/census").json()["etag"]
    patched = client.patch(f"{base}/census?updateMask=description", json={"description": "new", "etag": etag})
    assert patched.status_code == 200 and patched.json()["description"] == "new"
    stale = client.patch(f"{base}/census?updateMask=description", json={"description": "x", "etag": etag})
    assert error_of(stale)[:2] == (400, "FAILED_PRECONDITION")
    assert client.delete(f"{base}/census").json()["done"] is True
    assert error_of(client.get(f"{base}/census"))[:2] == (404, "NOT_FOUND")


def test_bad_requests_get_googles_error_body(client: TestClient) -> None:
    base = "/v1/projects/default/models"
    assert error_of(client.post(base, json={"name": "Bad Name!"}))[:2] == (400, "INVALID_ARGUMENT")
    assert error_of(client.post(base, content=b"{not json"))[:2] == (400, "INVALID_ARGUMENT")
    assert error_of(client.post(base, json=[1, 2]))[:2] == (400, "INVALID_ARGUMENT")
    client.post(base, json={"name": "dup"})
    assert error_of(client.post(base, json={"name": "dup"}))[:2] == (409, "ALREADY_EXISTS")
    assert client.get("/v1/projects/default/nothing").status_code == 404


def test_a_version_predicts(client: TestClient, engine: Engine, sklearn_model: tuple[Path, Any]) -> None:
    engine.create_model("iris")
    engine.create_version("iris", "v1", sklearn_model[0])
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    answer = client.post("/v1/projects/default/models/iris:predict", json={"instances": rows})
    assert answer.status_code == 200
    assert answer.json() == {"predictions": engine.predict("iris", rows)}
    status, code, message = error_of(client.post("/v1/projects/default/models/iris:predict", json={}))
    assert (status, code) == (400, "INVALID_ARGUMENT") and "instances" in message


def test_the_logs_route_answers_its_errors(client: TestClient) -> None:
    status, code, message = error_of(client.get("/v1/projects/default/jobs/nope:logs"))
    assert (status, code) == (404, "NOT_FOUND") and "nope" in message
    assert error_of(client.get("/v1/projects/default/jobs/nope:logs?offset=x"))[:2] == (
        400,
        "INVALID_ARGUMENT",
    )
    assert error_of(client.get("/v1/projects/default/jobs/nope:logs?offset=%C2%B2"))[:2] == (
        400,
        "INVALID_ARGUMENT",
    )  # "²" passes str.isdigit() and fails int(): it was a 500


class Countdown:
    """A plug-in kind's input spec: ``start`` is a whole number above 0."""

    def __init__(self, start: int) -> None:
        self.start = start

    @classmethod
    def from_api(cls, body: Any) -> Countdown:
        start = body.get("start")
        if not isinstance(start, int) or start < 1:
            raise InvalidArgument("jobInput.start must be a whole number above 0", field="jobInput.start")
        return cls(start)

    def to_api(self) -> dict[str, Any]:
        return {"start": self.start}


def test_a_plugin_kinds_job_is_created_over_rest(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = JobKindRegistry()
    kinds.register("countdown", execution=lambda context: None, spec=Countdown)  # type: ignore[arg-type,return-value]
    monkeypatch.setattr(jobs_api, "job_kinds", kinds)
    # A team's submission: recorded for a job service, nothing started here.
    engine = Engine(settings.replace(job_host="service"))
    jobs = "/v1/projects/default/jobs"
    with TestClient(create_app(engine=engine)) as client:
        body = {"jobId": "count_1", "jobKind": "countdown", "jobInput": {"start": 3}, "labels": {"a": "b"}}
        created = client.post(jobs, json=body)
        assert created.status_code == 200, created.text
        assert {k: created.json()[k] for k in ("jobId", "jobKind", "jobInput", "state", "labels")} == {
            **body,
            "state": "QUEUED",
        }
        assert client.get(f"{jobs}/count_1").json()["jobInput"] == {"start": 3}
        refused = client.post(
            jobs, json={"jobId": "count_2", "jobKind": "countdown", "jobInput": {"start": 0}}
        )
        assert error_of(refused) == (400, "INVALID_ARGUMENT", "jobInput.start must be a whole number above 0")
        typed = client.post(jobs, json={"jobId": "count_2", "jobKind": "countdown", "jobInput": [3]})
        assert error_of(typed)[:2] == (400, "INVALID_ARGUMENT") and "job.jobInput" in error_of(typed)[2]
        unknown = client.post(jobs, json={"jobId": "count_2", "jobKind": "nope", "jobInput": {}})
        assert error_of(unknown) == (
            400,
            "INVALID_ARGUMENT",
            "This mlnb cannot run nope jobs; it runs: "
            "training, tuning, prediction, notebook, rollout, pipeline, countdown",
        )
        assert [j["jobId"] for j in client.get(jobs).json()["jobs"]] == ["count_1"]
    engine.close()


def test_readyz_answers_once_every_default_is_loaded(
    settings: Settings, engine: Engine, sklearn_model: tuple[Path, Any]
) -> None:
    from support.waiting import wait_for

    for model in ("iris", "flowers"):
        engine.create_model(model)
        engine.create_version(model, "v1", sklearn_model[0])
    engine.create_version("iris", "v2", sklearn_model[0])  # not the default: not loaded
    serving = Engine(settings)  # a fresh process's Engine: nothing loaded yet
    app = create_app(engine=serving)
    starting = TestClient(app)  # outside its lifespan: nothing loaded
    assert error_of(starting.get("/readyz")) == (503, "UNAVAILABLE", "Loading the versions to serve")
    assert starting.get("/healthz").status_code == 200  # alive all the same
    with TestClient(app) as client:
        ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 200 and r, "readiness")
        assert ready.json() == {"status": "ready", "loadedVersions": 2}
    serving.close()
