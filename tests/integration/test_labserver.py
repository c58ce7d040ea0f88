"""The sidebar's server extension through HTTP, on a real Jupyter server
that finds it as an installed mlnb gives it: Jupyter's token, login cookie
and XSRF rules, and each route against the same store as the Engine."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.jupyter import Jupyter, jupyter_env, running_jupyter
from support.rest_server import free_port

from mlnb.api import Engine
from mlnb.errors import MlnbError

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API = "/mlnb/api"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jupyter]:
    with running_jupyter(tmp_path_factory.mktemp("lab-root")) as server:
        yield server
    # A REST server the tests started outlives Jupyter, as a user's does:
    # none may be left behind (one on 8080 would hold the port for others).
    leftover = Engine(home=str(server.home))
    try:
        assert leftover.server_status() is None, "a test left an mlnb server running"
    finally:
        with contextlib.suppress(MlnbError):
            leftover.stop_server()
        leftover.close()


@pytest.fixture(scope="module")
def engine(jupyter: Jupyter) -> Iterator[Engine]:
    engine = Engine(home=str(jupyter.home), job_heartbeat_s=0.2, job_host_idle_s=5.0, cancel_grace_s=1.0)
    yield engine
    engine.close()


def test_requests_need_jupyters_token(jupyter: Jupyter) -> None:
    status, _ = jupyter.call("GET", f"{API}/models", token=False)
    assert status == 403
    status, body = jupyter.call("GET", f"{API}/models")
    assert status == 200 and isinstance(body["models"], list)


def test_a_browser_session_needs_the_xsrf_token_to_change_anything(
    jupyter: Jupyter, engine: Engine, sklearn_model: Any
) -> None:
    engine.deploy("xsrf", "v1", sklearn_model[0])
    engine.deploy("xsrf", "v2", sklearn_model[0])
    cookies = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    with browser.open(f"{jupyter.url}/login?token={jupyter.token}", timeout=30) as response:
        assert response.status == 200
    with browser.open(
        f"{jupyter.url}{API}/models", timeout=30
    ) as response:  # the login cookie suffices to read
        assert any(m["name"].endswith("/models/xsrf") for m in json.load(response)["models"])
    path = f"{jupyter.url}{API}/models/xsrf/versions/v2/default"
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(urllib.request.Request(path, data=b"", method="POST"), timeout=30)
    assert refused.value.code == 403
    refused.value.close()
    assert engine.get_model("xsrf").default_version.name == "v1"
    xsrf = next(c.value for c in cookies if c.name == "_xsrf")
    request = urllib.request.Request(path, data=b"", method="POST", headers={"X-XSRFToken": xsrf})
    with browser.open(request, timeout=30) as response:
        assert response.status == 200
    assert engine.get_model("xsrf").default_version.name == "v2"


def test_models_set_default_predict_and_delete(
    jupyter: Jupyter, engine: Engine, sklearn_model: Any, iris_features: Any
) -> None:
    engine.deploy("iris", "v1", sklearn_model[0])
    engine.deploy("iris", "v2", sklearn_model[0])
    # The REST API's bodies: models.list's, each model with its versions.
    status, listed = jupyter.call("GET", f"{API}/models")
    iris = next(m for m in listed["models"] if m["name"] == "projects/default/models/iris")
    assert iris == {**engine.get_model("iris").to_api(), "versions": iris["versions"]}
    assert iris["defaultVersion"]["name"].endswith("/versions/v1")
    assert [
        (v["name"].rsplit("/", 1)[-1], v.get("isDefault", False), v["framework"]) for v in iris["versions"]
    ] == [
        ("v1", True, "SCIKIT_LEARN"),
        ("v2", False, "SCIKIT_LEARN"),
    ]
    status, body = jupyter.call("POST", f"{API}/models/iris/versions/v2/default")
    assert status == 200 and body["isDefault"] is True and body["name"].endswith("/versions/v2")
    assert engine.get_model("iris").default_version.name == "v2"
    instances = iris_features[:2].tolist()
    status, body = jupyter.call("POST", f"{API}/models/iris/versions/v1/predict", {"instances": instances})
    assert status == 200 and body["predictions"] == sklearn_model[1].predict(iris_features[:2]).tolist()
    # Errors are Google's error body, as the REST server answers them.
    status, body = jupyter.call("POST", f"{API}/models/iris/versions/v1/predict", {"instances": [[None]]})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT" and body["error"]["code"] == 400
    assert "instance" in body["error"]["message"].lower()
    status, body = jupyter.call("DELETE", f"{API}/models/iris/versions/v2")
    assert status == 400 and "default" in body["error"]["message"]
    status, operation = jupyter.call("DELETE", f"{API}/models/iris/versions/v1")
    assert status == 200 and operation["done"] is True and "/operations/" in operation["name"]
    assert [v.name for v in engine.list_versions("iris")] == ["v2"]
    status, body = jupyter.call("POST", f"{API}/models/iris/versions/v9/default")
    assert status == 404 and "v9" in body["error"]["message"]


def test_jobs_list_cancel_and_logs(jupyter: Jupyter, engine: Engine, tmp_path: Path) -> None:
    package = tmp_path / "sleeper"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text("import time\nprint('first line', flush=True)\ntime.sleep(60)\n")
    engine.submit_training_job("sleeper", {}, package_path=package, module_name="sleeper.task")
    deadline = time.monotonic() + 60
    entries: list[dict[str, str]] = []
    offset = 0
    # The pages of the REST server's jobs.logs.
    while not any(e["message"] == "first line" for e in entries):
        assert time.monotonic() < deadline
        status, page = jupyter.call("GET", f"{API}/jobs/sleeper/logs?offset={offset}")
        assert status == 200 and page["jobEnded"] is False
        entries += page["entries"]
        offset = page["nextOffset"]
        time.sleep(0.2)
    (first,) = [e for e in entries if e["message"] == "first line"]
    assert first["stream"] == "stdout" and first["replica"] == "master-replica-0"
    status, listed = jupyter.call("GET", f"{API}/jobs")
    (job,) = [j for j in listed["jobs"] if j["jobId"] == "sleeper"]
    assert job["kind"] == "training" and job["state"] == "RUNNING" and job["elapsedS"] >= 0
    assert job["trainingInput"]["pythonModule"] == "sleeper.task"  # the Job body, whole
    status, body = jupyter.call("POST", f"{API}/jobs/sleeper/cancel")
    assert status == 200 and body["state"] in ("CANCELLING", "CANCELLED")
    assert engine.wait_job("sleeper", timeout=60).state == "CANCELLED"
    status, page = jupyter.call("GET", f"{API}/jobs/sleeper/logs?offset={offset}")
    assert page["jobEnded"] is True and page["nextOffset"] >= offset
    status, body = jupyter.call("POST", f"{API}/jobs/sleeper/cancel")
    assert status == 400 and "CANCELLED" in body["error"]["message"]
    status, body = jupyter.call("GET", f"{API}/jobs/nobody/logs")
    assert status == 404
    status, body = jupyter.call("GET", f"{API}/jobs/sleeper/logs?offset=abc")
    assert status == 400 and "offset must be a whole number" in body["error"]["message"]
    status, body = jupyter.call("GET", f"{API}/jobs?limit=x")
    assert status == 400 and "limit must be a whole number" in body["error"]["message"]


def test_the_rest_server_starts_and_stops(jupyter: Jupyter) -> None:
    assert jupyter.call("GET", f"{API}/server") == (200, {"running": False})
    port = free_port()
    status, body = jupyter.call("POST", f"{API}/server/start", {"port": port})
    try:
        assert status == 200 and body["running"] and body["url"] == f"http://127.0.0.1:{port}"
        status, again = jupyter.call("GET", f"{API}/server")
        assert again["running"] and again["pid"] == body["pid"]
        status, twice = jupyter.call("POST", f"{API}/server/start", {"port": port})
        assert status == 400 and "runs already" in twice["error"]["message"]
    finally:
        status, stopped = jupyter.call("POST", f"{API}/server/stop")
    assert status == 200 and stopped == {"running": False}
    assert jupyter.call("GET", f"{API}/server") == (200, {"running": False})
    # Bad numbers are the caller's mistake, named: not a 500.
    status, bad = jupyter.call("POST", f"{API}/server/start", {"port": "abc"})
    assert status == 400 and "port must be a whole number" in bad["error"]["message"]
    # A port given as 0 or "" is refused, never taken as the default 8080.
    status, bad = jupyter.call("POST", f"{API}/server/start", {"port": 0})
    assert status == 400 and "port must be 1 to 65535, got 0" in bad["error"]["message"]
    status, bad = jupyter.call("POST", f"{API}/server/start", {"port": ""})
    assert status == 400 and "port must be a whole number" in bad["error"]["message"]
    status, bad = jupyter.call("POST", f"{API}/server/start", {"port": 70000})
    assert status == 400 and "port must be 1 to 65535" in bad["error"]["message"]
    assert jupyter.call("GET", f"{API}/server") == (200, {"running": False})


def test_the_sidebar_feed_pushes_a_change(jupyter: Jupyter, engine: Engine) -> None:
    """``state?since=TAG`` waits for the store to change (here: another
    process's Engine creates a model) and answers the new state."""
    status, first = jupyter.call("GET", f"{API}/state")
    assert status == 200 and {"tag", "models", "jobs", "server", "tensorboards"} <= set(first)
    answers: list[tuple[int, Any]] = []
    waiter = threading.Thread(
        target=lambda: answers.append(jupyter.call("GET", f"{API}/state?since={first['tag']}"))
    )
    waiter.start()
    engine.create_model("pushed")
    waiter.join(timeout=60)
    [(status, pushed)] = answers
    assert status == 200 and pushed["tag"] != first["tag"]
    assert "projects/default/models/pushed" in [m["name"] for m in pushed["models"]]
    engine.delete_model("pushed")


def test_tensorboard_is_served_through_jupyter(jupyter: Jupyter, engine: Engine, tmp_path: Path) -> None:
    """A browser that reaches Jupyter reaches TensorBoard at the sidebar's
    link (jupyter-server-proxy's proxy/PORT/), under Jupyter's token; the
    kernel of that server prints the same address."""
    from mlnb.tensorboard import through_jupyter

    (tmp_path / "events").mkdir()
    board = engine.start_tensorboard(str(tmp_path / "events"))
    port = board["port"]
    try:
        status, body = jupyter.call("GET", f"{API}/tensorboards")
        assert status == 200 and [b["port"] for b in body["tensorboards"]] == [port]
        assert body["tensorboards"][0]["proxyPath"] == f"proxy/{port}/"

        def page(token: bool) -> tuple[int, str]:
            request = urllib.request.Request(f"{jupyter.url}/proxy/{port}/")
            if token:
                request.add_header("Authorization", f"token {jupyter.token}")
            opener = urllib.request.build_opener(NoRedirect)
            try:
                with opener.open(request, timeout=60) as response:
                    return response.status, response.read().decode(errors="replace")
            except urllib.error.HTTPError as e:
                e.close()
                return e.code, ""

        status, html = page(token=True)
        assert status == 200 and "<title>TensorBoard</title>" in html
        assert page(token=False)[0] in (302, 403)  # to Jupyter's login: never TensorBoard itself

        server_info = next((jupyter.root / ".jupyter" / "runtime").glob("jpserver-*.json"))
        pid = server_info.stem.removeprefix("jpserver-")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("JPY_PARENT_PID", pid)
            patch.setenv("JUPYTER_RUNTIME_DIR", str(server_info.parent))
            assert through_jupyter(port) == f"{jupyter.url}/proxy/{port}/"
            patch.setenv("JPY_PARENT_PID", "1")  # not a Jupyter server's kernel
            assert through_jupyter(port) is None

        status, body = jupyter.call("POST", f"{API}/tensorboards/{port}/stop")
        assert status == 200 and body == {"tensorboards": []}
    finally:
        engine.stop_tensorboard()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _jupyter_listing(tmp_path: Path, *command: str) -> str:
    """What ``jupyter <command>`` prints, colours removed, with Jupyter
    folders of its own so that a user's configuration cannot hide mlnb."""
    jupyter = Path(sys.executable).with_name("jupyter")
    done = subprocess.run(
        [str(jupyter), *command],
        env=jupyter_env(tmp_path, tmp_path / "mlnb-home"),
        capture_output=True,
        text=True,
        timeout=300,  # generous: a cold machine imports every installed extension
        check=True,
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


def test_the_sidebar_is_enabled_and_compatible_with_the_installed_jupyterlab(tmp_path: Path) -> None:
    listing = _jupyter_listing(tmp_path, "labextension", "list")
    (line,) = [line for line in listing.splitlines() if "mlnb-labextension" in line and " v" in line]
    assert re.search(r"enabled\s+OK", line), listing
    # JupyterLab names the incompatible extensions again below the listing.
    assert '"mlnb-labextension@' not in listing, listing
    assert listing.count("mlnb-labextension") == 1, listing


def test_the_server_extension_is_enabled_and_valid(tmp_path: Path) -> None:
    listing = _jupyter_listing(tmp_path, "server", "extension", "list")
    assert re.search(r"mlnb\.labserver\s+enabled", listing), listing
    assert re.search(r"mlnb\.labserver\s+OK", listing), listing


def test_random_requests_to_the_sidebar_api_get_no_5xx(
    jupyter: Jupyter, engine: Engine, sklearn_model: Any
) -> None:
    from urllib.parse import quote

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from support.fuzzing import FUZZ, json_values

    engine.deploy("fuzzed", "v1", sklearn_model[0])
    bounded = settings(
        FUZZ, max_examples=60
    )  # over HTTP to a real Jupyter server: fewer, still the same each run
    answered: list[int] = []

    def check(status: int, body: Any) -> None:
        answered.append(status)
        assert status < 500, (status, body)

    @bounded
    @given(body=st.one_of(st.fixed_dictionaries({"instances": json_values}), json_values))
    def predict(body: Any) -> None:
        check(*jupyter.call("POST", f"{API}/models/fuzzed/versions/v1/predict", body))

    @bounded
    @given(offset=st.text(max_size=8), limit=st.text(max_size=8))
    def logs_and_lists(offset: str, limit: str) -> None:
        check(*jupyter.call("GET", f"{API}/jobs/nojob/logs?offset={quote(offset)}&limit={quote(limit)}"))
        check(*jupyter.call("GET", f"{API}/jobs?limit={quote(limit)}"))
        # A tag no state has: answered at once, never waited on.
        check(*jupyter.call("GET", f"{API}/state?since={quote(offset)}"))

    @bounded
    @given(port=st.from_regex(r"\A[0-9]{1,5}\Z"))
    def tensorboard_stop(port: str) -> None:
        check(*jupyter.call("POST", f"{API}/tensorboards/{port}/stop"))

    # Ports that cannot be listened on, or that are no port at all: a
    # valid one would start a server (the sidebar tests do that), and so
    # would a port left out (null: the default, 8080).
    def starts_a_server(port: Any) -> bool:
        text = str(port)
        number = not isinstance(port, bool) and text.isascii() and text.isdigit()
        return port is None or (number and 1 <= int(text) <= 65535)

    bad_ports = st.one_of(
        st.integers().filter(lambda n: not 1 <= n <= 65535), st.text(max_size=6), json_values
    ).filter(lambda port: not starts_a_server(port))

    @bounded
    @given(port=bad_ports, extra=st.dictionaries(st.text(max_size=6), json_values, max_size=2))
    def server_start(port: Any, extra: dict[str, Any]) -> None:
        check(*jupyter.call("POST", f"{API}/server/start", {**extra, "port": port}))

    predict()
    logs_and_lists()
    server_start()
    tensorboard_stop()
    assert len(answered) >= 360 and jupyter.call("GET", f"{API}/models")[0] == 200
