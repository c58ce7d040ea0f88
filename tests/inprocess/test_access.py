"""What a token may make a shared server do. With default settings an
editor cannot make the server read or list ``/etc``, load a ``data:`` or
chained URL, or run code (a pickle, a custom routine, a trainer); it can
deploy a model that runs no code from the artifact root. A developer may
run code, still only from the allowed roots. Nothing refused is recorded."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.server import create_app

EDITOR = "editor-token-0123456789"
DEVELOPER = "developer-token-0123456789"
VIEWER = "viewer-token-0123456789"
VERSIONS = "/v1/projects/default/models/m/versions"
JOBS = "/v1/projects/default/jobs"


@pytest.fixture
def shared(home: Path) -> Engine:
    settings = Settings.resolve(
        env={},
        home=str(home),
        actor="admin",
        job_host="service",  # jobs wait for a team's host: nothing runs here
        tokens={"viewer": [VIEWER], "editor": [EDITOR], "developer": [DEVELOPER]},
    )
    engine = Engine(settings)
    engine.create_model("m")
    return engine


@pytest.fixture
def client(shared: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=shared), raise_server_exceptions=False) as test_client:
        yield test_client
    shared.close()


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusal(answer: Any) -> tuple[int, str, str]:
    error = answer.json()["error"]
    return answer.status_code, error["status"], error["message"]


def in_artifact_root(engine: Engine, source: Path, name: str) -> Path:
    target = Path(engine.settings.artifact_root) / "uploads" / name
    shutil.copytree(source, target)
    return target


ZIP_OF_A_PICKLE = (
    "zip://model.pkl::data:application/zip;base64," + base64.b64encode(b"PK\x05\x06" + bytes(18)).decode()
)


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        ("/etc", "is outside the allowed roots"),
        ("file:///etc/passwd", "is outside the allowed roots"),
        ("data:application/octet-stream;base64,AAAA", "is a data: URL"),
        (ZIP_OF_A_PICKLE, "is a chained URL"),
        ("memory://elsewhere/model", "is outside the allowed roots"),
    ],
)
def test_an_editor_cannot_point_the_server_outside_the_allowed_roots(
    client: TestClient, shared: Engine, origin: str, reason: str
) -> None:
    answer = client.post(VERSIONS, json={"name": "v1", "deploymentUri": origin}, headers=as_(EDITOR))
    status, code, message = refusal(answer)
    assert (status, code) == (403, "PERMISSION_DENIED")
    assert message.startswith(f"deploymentUri {origin!r} {reason}") and "MLNB_ALLOWED_ROOTS" in message
    assert shared.list_versions("m") == [] and shared.list_operations() == []


def test_climbing_out_of_a_root_is_refused_by_dots_and_by_links(client: TestClient, shared: Engine) -> None:
    root = Path(shared.settings.artifact_root)
    climbing = f"{root}/../../../../../../etc"
    answer = client.post(VERSIONS, json={"name": "v1", "deploymentUri": climbing}, headers=as_(EDITOR))
    assert refusal(answer)[:2] == (403, "PERMISSION_DENIED")
    files = shared.settings.home / "files"
    files.mkdir()
    (files / "etc").symlink_to("/etc")
    linked = client.post(
        VERSIONS, json={"name": "v1", "deploymentUri": str(files / "etc")}, headers=as_(EDITOR)
    )
    assert refusal(linked)[:2] == (403, "PERMISSION_DENIED")
    assert shared.list_versions("m") == []


def test_an_editor_deploys_a_model_that_runs_no_code_from_the_artifact_root(
    client: TestClient, shared: Engine, xgboost_model: tuple[Path, Any]
) -> None:
    origin = in_artifact_root(shared, xgboost_model[0], "xgb")
    answer = client.post(VERSIONS, json={"name": "v1", "deploymentUri": str(origin)}, headers=as_(EDITOR))
    assert answer.status_code == 200, answer.text
    operation = answer.json()["name"].rsplit("/", 1)[-1]
    from support.waiting import wait_for

    wait_for(lambda: shared.get_operation(operation).done, "the version to be created")
    assert shared.get_version("m", "v1").state == "READY"


def test_a_pickle_needs_a_developer(
    client: TestClient, shared: Engine, sklearn_model: tuple[Path, Any]
) -> None:
    origin = in_artifact_root(shared, sklearn_model[0], "pickled")
    body = {"name": "v1", "deploymentUri": str(origin)}
    status, code, message = refusal(client.post(VERSIONS, json=body, headers=as_(EDITOR)))
    assert (status, code) == (403, "PERMISSION_DENIED")
    assert "'model.joblib' is a pickle" in message and "needs a developer token" in message
    assert shared.list_versions("m") == []
    assert client.post(VERSIONS, json=body, headers=as_(DEVELOPER)).status_code == 200


def test_jobs_name_only_allowed_locations_and_trainers_need_a_developer(
    client: TestClient, shared: Engine
) -> None:
    batch = {
        "jobId": "b1",
        "predictionInput": {
            "modelName": "projects/default/models/m",
            "inputPaths": ["/etc/passwd"],
            "outputPath": str(Path(shared.settings.artifact_root) / "out"),
            "dataFormat": "TEXT",
        },
    }
    status, code, message = refusal(client.post(JOBS, json=batch, headers=as_(EDITOR)))
    assert (status, code) == (403, "PERMISSION_DENIED") and message.startswith(
        "predictionInput.inputPaths '/etc/passwd' is outside the allowed roots"
    )
    batch["predictionInput"] |= {"inputPaths": [str(Path(shared.settings.artifact_root) / "in*.json")]}
    batch["predictionInput"]["outputPath"] = "/tmp/anywhere"
    assert "predictionInput.outputPath" in refusal(client.post(JOBS, json=batch, headers=as_(EDITOR)))[2]
    training = {"jobId": "t1", "trainingInput": {"pythonModule": "timeit", "packageUris": ["/etc/passwd"]}}
    status, _, message = refusal(client.post(JOBS, json=training, headers=as_(EDITOR)))
    assert status == 403 and "A training job runs its trainer's code on the server" in message
    status, _, message = refusal(client.post(JOBS, json=training, headers=as_(DEVELOPER)))
    assert status == 403 and message.startswith("trainingInput.packageUris '/etc/passwd' is outside")
    assert shared.list_jobs() == []


def test_a_server_without_tokens_trusts_its_owner_with_any_path(
    engine: Engine, sklearn_model: tuple[Path, Any]
) -> None:
    engine.create_model("m")
    with TestClient(create_app(engine=engine)) as client:
        answer = client.post(VERSIONS, json={"name": "v1", "deploymentUri": str(sklearn_model[0])})
    assert answer.status_code == 200


def test_test_iam_permissions_answers_from_the_callers_role(client: TestClient) -> None:
    asked = {
        "permissions": ["ml.models.get", "ml.models.predict", "ml.versions.create", "ml.jobs.create", "x.y.z"]
    }
    answers = {
        token: client.post("/v1/projects/default/models/m:testIamPermissions", json=asked, headers=as_(token))
        for token in (VIEWER, EDITOR, DEVELOPER)
    }
    assert {t: a.status_code for t, a in answers.items()} == {VIEWER: 200, EDITOR: 200, DEVELOPER: 200}
    assert answers[VIEWER].json() == {"permissions": ["ml.models.get", "ml.models.predict"]}
    assert answers[EDITOR].json() == {
        "permissions": ["ml.models.get", "ml.models.predict", "ml.versions.create"]
    }
    assert answers[DEVELOPER].json() == {"permissions": asked["permissions"][:4]}
    policy = client.get("/v1/projects/default/models/m:getIamPolicy", headers=as_(VIEWER)).json()
    roles = {b["role"]: b["members"] for b in policy["bindings"]}
    assert set(roles) == {"roles/ml.viewer", "roles/ml.modelOwner", "roles/ml.developer"}
    assert all(m.startswith("token:") and len(m) == 18 for members in roles.values() for m in members)
    assert VIEWER not in str(policy) and EDITOR not in str(policy)  # fingerprints, never the tokens
    set_policy = client.post(
        "/v1/projects/default/models/m:setIamPolicy", json={"policy": policy}, headers=as_(VIEWER)
    )
    assert refusal(set_policy)[:2] == (403, "PERMISSION_DENIED")


def test_a_viewer_reads_webhooks_cut_to_their_host(client: TestClient) -> None:
    hook = "https://hooks.slack.com/services/T000/B000/s3cr3t"
    wanted = {"notifications": {"webhook": hook, "email": ["ops@example.com"]}}
    answer = client.patch(
        "/v1/projects/default/models/m?updateMask=notifications", json=wanted, headers=as_(EDITOR)
    )
    assert answer.status_code == 200 and answer.json()["notifications"]["webhook"] == hook
    for path in ("/v1/projects/default/models/m", "/v1/projects/default/models"):
        seen = client.get(path, headers=as_(VIEWER))
        assert seen.status_code == 200 and "s3cr3t" not in seen.text
        assert int(seen.headers["content-length"]) == len(seen.content)
        model = seen.json() if path.endswith("/m") else seen.json()["models"][0]
        assert model["notifications"] == {
            "webhook": "https://hooks.slack.com/…",
            "email": ["ops@example.com"],
        }
    # Editors see what they set; a viewer's other answers pass as they are.
    assert (
        client.get("/v1/projects/default/models/m", headers=as_(EDITOR)).json()["notifications"]
        == wanted["notifications"]
    )
    metrics = client.get("/metrics", headers=as_(VIEWER))
    assert metrics.status_code == 200 and "mlnb_predict_in_flight" in metrics.text
