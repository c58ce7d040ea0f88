"""Predict requests take a short way to their endpoint, past the router
and the exception middleware (``mlnb.server.predict_path``): they are
answered as the router answers them, the access check still in front,
and every other request takes the router."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Router
from starlette.testclient import TestClient

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.server import create_app
from mlnb.server.predict_path import PredictPath

MODELS = "/v1/projects/default/models"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
VIEWER = "viewer-token-0123456789"

# (method, path, body): good requests, bad ones, and requests the short
# way leaves to the router (a GET, a path no predict route has).
REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", f"{MODELS}/iris:predict", {"instances": ROWS}),
    ("POST", f"{MODELS}/iris/versions/v1:predict", {"instances": ROWS}),
    ("POST", f"{MODELS}/iris/versions/@champion:predict", {"instances": ROWS}),
    ("POST", f"{MODELS}/iris:predict?perInstance=true", {"instances": [ROWS[0], [1.0, "x", 2.0, 3.0]]}),
    ("POST", f"{MODELS}/iris:predict", {"instances": [[1.0, "x", 2.0, 3.0]]}),
    ("POST", f"{MODELS}/iris:predict", b"{not json"),
    ("POST", f"{MODELS}/iris:predict", {}),
    ("POST", f"{MODELS}/iris:predict", {"instances": ROWS, "signature_name": {"a": 1}}),
    ("POST", f"{MODELS}/nope:predict", {"instances": ROWS}),
    ("POST", f"{MODELS}/iris/versions/v9:predict", {"instances": ROWS}),
    ("POST", f"{MODELS}/iris/versions/@nobody:predict", {"instances": ROWS}),
    ("POST", f"{MODELS}/Bad-Name:predict", {"instances": ROWS}),
    ("POST", f"{MODELS}/iris/versions/v1/drift:predict", {"instances": ROWS}),
    ("POST", "/v1/projects/Bad Project/models/iris:predict", {"instances": ROWS}),
    ("GET", f"{MODELS}/iris:predict", None),
]


@pytest.fixture
def served(engine: Engine, sklearn_model: tuple[Path, Any]) -> Engine:
    engine.create_model("iris")
    engine.create_version("iris", "v1", sklearn_model[0])
    engine.set_alias("iris", "champion", "v1")
    return engine


@pytest.fixture
def client(served: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=served), raise_server_exceptions=False) as test_client:
        yield test_client


def answers(client: TestClient) -> list[tuple[int, Any, str | None]]:
    found = []
    for method, path, body in REQUESTS:
        sent = {"content": body} if isinstance(body, bytes) else {"json": body}
        answer = client.request(method, path, **sent)
        found.append((answer.status_code, answer.json(), answer.headers.get("x-mlnb-version")))
    return found


def test_predict_requests_are_answered_as_the_router_answers_them(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    routed: list[str] = []
    router_call = Router.__call__

    async def watched(self: Router, scope: Any, receive: Any, send: Any) -> None:
        routed.append(f"{scope['method']} {scope['path']}")
        await router_call(self, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", watched)
    short = answers(client)
    # Only what no predict route matches reached the router.
    assert routed == [f"POST {MODELS}/iris/versions/v1/drift:predict", f"GET {MODELS}/iris:predict"]

    async def the_router_only(self: PredictPath, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    monkeypatch.setattr(PredictPath, "__call__", the_router_only)
    assert answers(client) == short
    codes = [status for status, _, _ in short]
    assert codes[:4] == [200] * 4 and all(status in (400, 404, 405) for status in codes[4:])
    assert short[0][1]["predictions"] and short[0][2] == "v1"  # the version that answered


def test_the_access_check_stays_in_front(served: Engine) -> None:
    settings = Settings.resolve(env={}, home=str(served.settings.home), tokens={"viewer": [VIEWER]})
    guarded = Engine(settings)
    with TestClient(create_app(engine=guarded)) as client, contextlib.closing(guarded):
        refused = client.post(f"{MODELS}/iris:predict", json={"instances": ROWS})
        assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"
        allowed = client.post(
            f"{MODELS}/iris:predict", json={"instances": ROWS}, headers={"Authorization": f"Bearer {VIEWER}"}
        )
        assert allowed.status_code == 200 and len(allowed.json()["predictions"]) == 2
