"""A model's traffic: requests shared among versions by a split (within
binomial bounds), sticky routing keys, aliases wherever a version name is
taken, evaluation gates on a new share, and a shadow version whose copies
are logged and never change an answer, also when it raises."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httplib2
import pytest
from support import model_factory
from support.waiting import wait_for

from mlnb.api import Engine
from mlnb.errors import FailedPrecondition, InvalidArgument, NotFound

pytestmark = pytest.mark.integration

ROW = [1.0, 2.0]  # a ScaledSum of factor f answers 3 f


def deploy_scaled(engine: Engine, root: Path) -> Engine:
    """Model ``scaled``, its requests logged, with v1 (x1), v2 (x2) and v3
    (x3, raising from its first call)."""
    engine.create_model("scaled", online_prediction_logging=True)
    for name, factor, fail_after in (("v1", 1.0, None), ("v2", 2.0, None), ("v3", 3.0, 0)):
        model_dir, package = model_factory.custom_routine(root / name, factor=factor, fail_after=fail_after)
        engine.create_version(
            "scaled", name, model_dir, prediction_class="scaled_sum.ScaledSum", package_uris=[package]
        )
    return engine


@pytest.fixture
def scaled(engine: Engine, tmp_path: Path) -> Engine:
    return deploy_scaled(engine, tmp_path)


def test_a_split_shares_requests_within_binomial_bounds(scaled: Engine) -> None:
    engine = scaled
    record = engine.set_traffic_split("scaled", {"v1": 80, "v2": 20}, reason="try v2")
    assert record.traffic_split == {"v1": 80, "v2": 20}
    assert record.to_api()["trafficSplit"] == {"v1": 80, "v2": 20}
    answered = Counter(engine.predict_each("scaled", [ROW])["version"] for _ in range(2000))
    # 400 expected on v2, standard deviation 17.9: five of them either side.
    assert set(answered) == {"v1", "v2"} and 310 <= answered["v2"] <= 490, answered
    # The answers are the answering version's.
    assert {engine.predict("scaled", [ROW])[0] for _ in range(50)} == {3.0, 6.0}
    # A routing key stays on one version; keys spread over both.
    for key in ("user-1", "user-2", "user-3"):
        assert len({engine.predict_each("scaled", [ROW], routing_key=key)["version"] for _ in range(30)}) == 1
    by_key = Counter(engine.serving_version("scaled", routing_key=f"user-{n}").name for n in range(300))
    assert 180 <= by_key["v1"] <= 295 and by_key["v2"] >= 5, by_key
    # A version named in the request is not routed.
    assert {engine.predict("scaled", [ROW], version="v1")[0] for _ in range(20)} == {3.0}
    (event,) = [e for e in engine.model_history("scaled") if e.action == "TRAFFIC_CHANGED"]
    assert event.details["trafficSplit"]["after"] == {"v1": 80, "v2": 20}
    assert event.details["reason"] == "try v2"
    # Back to the default alone.
    assert engine.set_traffic_split("scaled", {}).traffic_split == {}
    assert {engine.predict_each("scaled", [ROW])["version"] for _ in range(50)} == {"v1"}


def test_bad_splits_are_refused_with_reasons(scaled: Engine) -> None:
    engine = scaled
    with pytest.raises(InvalidArgument, match="must add up to 100 percent; v1=80, v2=30 adds up to 110"):
        engine.set_traffic_split("scaled", {"v1": 80, "v2": 30})
    with pytest.raises(InvalidArgument, match="whole percent from 0 to 100"):
        engine.set_traffic_split("scaled", {"v1": 50.5, "v2": 49.5})
    with pytest.raises(NotFound, match="has no version 'v9'"):
        engine.set_traffic_split("scaled", {"v1": 50, "v9": 50})
    assert Engine.traffic_split("v1=90, v2=10") == {"v1": 90, "v2": 10}
    with pytest.raises(InvalidArgument, match="has no '='"):
        Engine.traffic_split("v1:90")
    with pytest.raises(InvalidArgument, match="routingKeyField 'not ok' must be a name"):
        engine.set_routing_key_field("scaled", "not ok")
    assert engine.set_routing_key_field("scaled", "user").routing_key_field == "user"
    assert engine.set_routing_key_field("scaled", None).routing_key_field is None
    engine.set_traffic_split("scaled", {"v1": 50, "v2": 50})
    with pytest.raises(FailedPrecondition, match="takes 50% of the traffic: move the traffic"):
        engine.delete_version("scaled", "v2")


def test_aliases_name_versions_wherever_a_version_is_taken(scaled: Engine) -> None:
    engine = scaled
    record = engine.set_alias("scaled", "champion", "v2")
    assert record.aliases == {"champion": "v2"} and record.to_api()["aliases"] == {"champion": "v2"}
    assert engine.get_version("scaled", "@champion").name == "v2"
    assert engine.predict("scaled", [ROW], version="@champion") == [6.0]
    assert engine.predict_each("scaled", [ROW], version="@champion")["version"] == "v2"
    engine.set_default_version("scaled", "@champion")
    assert engine.get_model("scaled").default_version.name == "v2"  # type: ignore[union-attr]
    # Moved by one call: requests to the alias follow at once in this process.
    engine.set_alias("scaled", "@champion", "v1")
    assert engine.predict("scaled", [ROW], version="@champion") == [3.0]
    with pytest.raises(FailedPrecondition, match="is @champion: move the traffic or the alias first"):
        engine.delete_version("scaled", "v1")
    with pytest.raises(NotFound, match=r"has no alias @nobody \(aliases: @champion\)"):
        engine.predict("scaled", [ROW], version="@nobody")
    with pytest.raises(InvalidArgument, match="alias name"):
        engine.set_alias("scaled", "not ok", "v1")
    moves = [
        (e.version, e.details["previous"])
        for e in engine.model_history("scaled")
        if e.action == "ALIAS_MOVED"
    ]
    assert moves == [("v2", None), ("v1", "v2")]
    engine.set_alias("scaled", "champion", None)
    assert engine.get_model("scaled").aliases == {}


def test_a_new_share_passes_the_evaluation_gates(scaled: Engine) -> None:
    engine = scaled
    rows = [[float(i), 1.0] for i in range(20)]
    targets = [2.0 * (i + 1.0) for i in range(20)]  # what v2 answers
    engine.update_model("scaled", evaluation_gates=engine.evaluation_gates("holdout:rmse<=1"))
    with pytest.raises(
        FailedPrecondition,
        match=r"does not pass the evaluation gates.*v2 has no evaluation on dataset 'holdout'",
    ):
        engine.set_traffic_split("scaled", {"v1": 90, "v2": 10})
    engine.evaluate(
        "scaled",
        {"instances": rows, "targets": targets},
        version="v2",
        dataset="holdout",
        task="regression",
    )
    split = engine.set_traffic_split("scaled", {"v1": 90, "v2": 10})
    (event,) = [e for e in engine.model_history("scaled") if e.action == "TRAFFIC_CHANGED"]
    assert event.details["trafficSplit"]["gates"] == ["holdout:rmse<=1"]
    # A version already in the split keeps its share without passing again.
    assert engine.set_traffic_split("scaled", {"v1": 50, "v2": 50}).traffic_split == {"v1": 50, "v2": 50}
    assert split.traffic_split == {"v1": 90, "v2": 10}


def test_a_shadow_is_logged_and_never_changes_an_answer(scaled: Engine) -> None:
    engine = scaled
    engine.set_shadow("scaled", "v2")
    for n in range(5):
        assert engine.predict("scaled", [[float(n), 1.0]]) == [n + 1.0]  # v1's answer
    comparison = wait_for(
        lambda: (c := engine.shadow_comparison("scaled"))["copies"] == 5 and c, "the shadow's five copies"
    )
    assert comparison["agreement"] == 0.0 and comparison["instances"] == 5
    first = comparison["disagreements"][0]
    assert first["served"] == 1.0 and first["shadow"] == 2.0 and first["servedBy"] == "v1"
    assert first["shadowVersion"] == "v2" and first["instance"] == [0.0, 1.0]
    # A shadow that raises: the answers stand, its errors are logged.
    engine.set_shadow("scaled", "v3", percent=100)
    assert engine.predict_each("scaled", [ROW, ROW])["predictions"] == [3.0, 3.0]
    failed = wait_for(
        lambda: (c := engine.shadow_comparison("scaled", version="v3"))["errors"] == 1 and c,
        "v3's logged error",
    )
    assert "broken past call 0" in failed["disagreements"][0]["error"]
    # Only the model's own traffic is copied: a request naming a version is not.
    engine.predict("scaled", [ROW], version="v1")
    engine.set_shadow("scaled", None)
    assert engine.get_model("scaled").shadow is None
    assert engine.shadow_comparison("scaled", version="v3")["copies"] == 1


def test_traffic_over_rest_and_the_official_client(scaled: Engine, home: Path) -> None:
    from googleapiclient import discovery
    from support.rest_server import exchange, fetch_text, serve

    from mlnb.config import Settings

    served = serve(Settings.resolve(env={}, home=str(home), resolve_ttl_s=0.2))
    server = next(served)
    http = httplib2.Http(timeout=30)
    try:
        ml = discovery.build(
            "ml", "v1", http=http, static_discovery=True, client_options={"api_endpoint": server}
        )
        name = "projects/default/models/scaled"
        body = {"trafficSplit": {"v1": 50, "v2": 50}, "aliases": {"champion": "v2"}}
        patched = (
            ml.projects().models().patch(name=name, body=body, updateMask="trafficSplit,aliases").execute()
        )
        assert patched["trafficSplit"] == {"v1": 50, "v2": 50} and patched["aliases"] == {"champion": "v2"}
        path = f"/v1/{name}"
        seen = Counter()
        for _ in range(60):
            status, answer, headers = exchange(server, "POST", f"{path}:predict", {"instances": [ROW]})
            assert status == 200
            seen[headers["x-mlnb-version"]] += 1
            assert answer["predictions"] == [3.0 if headers["x-mlnb-version"] == "v1" else 6.0]
        assert set(seen) == {"v1", "v2"}, seen
        sticky = {
            exchange(
                server, "POST", f"{path}:predict", {"instances": [ROW]}, headers={"X-Mlnb-Routing-Key": "u7"}
            )[2]["x-mlnb-version"]
            for _ in range(20)
        }
        assert len(sticky) == 1
        # A body field the model names routes as the header does, and the model never sees it.
        patched = (
            ml.projects()
            .models()
            .patch(name=name, body={"routingKeyField": "user"}, updateMask="routingKeyField")
            .execute()
        )
        assert patched["routingKeyField"] == "user"
        for key in ("u1", "u2", "u3", "u4"):
            answered = {
                exchange(server, "POST", f"{path}:predict", {"instances": [ROW], "user": key})[2][
                    "x-mlnb-version"
                ]
                for _ in range(10)
            }
            assert len(answered) == 1
            by_header = exchange(
                server, "POST", f"{path}:predict", {"instances": [ROW]}, headers={"X-Mlnb-Routing-Key": key}
            )[2]["x-mlnb-version"]
            assert answered == {by_header}
        status, answer, headers = exchange(
            server, "POST", f"{path}/versions/@champion:predict?perInstance=true", {"instances": [ROW]}
        )
        assert status == 200 and answer["version"] == "v2" and headers["x-mlnb-version"] == "v2"
        assert (
            ml.projects()
            .models()
            .versions()
            .get(name=f"{name}/versions/@champion")
            .execute()["name"]
            .endswith("/versions/v2")
        )
        status, answer, _ = exchange(
            server, "PATCH", f"{path}?updateMask=trafficSplit", {"trafficSplit": {"v1": 70}}
        )
        assert status == 400 and "must add up to 100 percent" in answer["error"]["message"]
        metrics = fetch_text(server, "/metrics")
        assert 'mlnb_version_requests_total{code="200",model="scaled",version="v2"}' in metrics
        status, answer, _ = exchange(
            server, "PATCH", f"{path}?updateMask=trafficSplit,shadow", {"shadow": {"version": "v3"}}
        )
        assert (
            status == 200
            and "trafficSplit" not in answer
            and answer["shadow"] == {"version": "v3", "percent": 100}
        )
    finally:
        http.close()
        next(served, None)


def test_traffic_from_the_cli(
    scaled: Engine, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from mlnb.cli import main

    monkeypatch.setenv("MLNB_HOME", str(home))
    assert main(["models", "update", "scaled", "--traffic-split", "v1=90,v2=10", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["trafficSplit"] == {"v1": 90, "v2": 10}
    assert main(["models", "alias", "scaled", "champion", "--version", "v2"]) == 0
    assert "Pointed @champion at version [v2] of model [scaled]." in capsys.readouterr().out
    assert main(["versions", "describe", "@champion", "--model", "scaled", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"].endswith("/versions/v2")
    assert main(["models", "update", "scaled", "--traffic-split", "v1=90,v2=20"]) == 1
    assert "adds up to 110" in capsys.readouterr().err
    assert (
        main(
            ["models", "update", "scaled", "--clear-traffic-split", "--shadow", "v2", "--shadow-percent", "5"]
        )
        == 0
    )
    capsys.readouterr()
    model = scaled.get_model("scaled")
    assert model.traffic_split == {} and model.shadow == {"version": "v2", "percent": 5}
    assert main(["models", "alias", "scaled", "champion"]) == 1
    assert "Give --version VERSION, or --remove" in capsys.readouterr().err


def test_what_each_version_served_is_read_from_every_face(
    scaled: Engine, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from support.rest_server import call_http, serve

    from mlnb.cli import main
    from mlnb.config import Settings

    scaled.set_traffic_split("scaled", {"v1": 50, "v2": 50})
    answered = Counter(scaled.predict_each("scaled", [ROW])["version"] for _ in range(40))
    with pytest.raises(InvalidArgument):
        scaled.predict("scaled", [ROW], version="v3")  # v3 raises from its first call
    seen = scaled.served("scaled", since="10m")
    assert {v: f["requests"] for v, f in seen["versions"].items()} == {**answered, "v3": 1}
    assert seen["versions"]["v3"]["errorRate"] == 1.0 and seen["versions"]["v1"]["errors"] == 0
    assert seen["total"]["requests"] == 41 and seen["versions"]["v1"]["latencyP99Ms"] > 0
    with pytest.raises(InvalidArgument, match="at most a day"):
        scaled.served("scaled", since="2d")
    with pytest.raises(NotFound):
        scaled.served("nothing")
    # Another process reads the same counts: a REST server, and the CLI.
    served = serve(Settings.resolve(env={}, home=str(home)))
    server = next(served)
    try:
        status, body = call_http(server, "GET", "/v1/projects/default/models/scaled:served?since=10m")
        assert status == 200 and body["total"]["requests"] == 41 and body["versions"]["v3"]["errors"] == 1
        status, body = call_http(server, "GET", "/v1/projects/default/models/scaled:served?since=soon")
        assert status == 400 and "is not a duration" in body["error"]["message"]
    finally:
        next(served, None)
    monkeypatch.setenv("MLNB_HOME", str(home))
    assert main(["models", "served", "scaled", "--since", "10m"]) == 0
    out = capsys.readouterr().out
    assert "ERROR_RATE" in out and "100.00%" in out and "(all)" in out
    assert main(["models", "served", "scaled", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["requests"] == 41


@pytest.mark.slow
def test_a_new_split_under_load_on_two_workers_fails_no_request(scaled: Engine, home: Path) -> None:
    import threading

    from support.rest_server import exchange, running_server

    scaled.close()  # the server's workers read what this engine wrote
    path = "/v1/projects/default/models/scaled:predict"
    with running_server(home, 2) as port:
        server = f"http://127.0.0.1:{port}"
        failures: list[tuple[int, object]] = []
        answered: list[str] = []
        stop = threading.Event()

        def load() -> None:
            # About 200 requests a second, a new connection each (both workers take them).
            while not stop.is_set():
                status, answer, headers = exchange(server, "POST", path, {"instances": [ROW]})
                if status != 200:
                    failures.append((status, answer))
                else:
                    answered.append(headers["x-mlnb-version"])
                stop.wait(0.005)

        threads = [threading.Thread(target=load) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            writer = Engine(home=str(home))
            for split in ({"v1": 50, "v2": 50}, {"v2": 100}, {"v1": 20, "v2": 80}, {"v2": 100}):
                writer.set_traffic_split("scaled", split)
                now = len(answered)  # 50 answers under each split
                wait_for(lambda now=now: len(answered) >= now + 50, "answers under the new split")
            writer.close()
            # Every worker follows the last split within its resolve TTL: only v2 answers.
            seen = len(answered)
            wait_for(
                lambda: len(answered) > seen + 40 and set(answered[-40:]) == {"v2"},
                "every worker answering with v2 alone",
                timeout=60,
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        assert failures == [] and len(answered) > 200
        assert set(answered) == {"v1", "v2"}


class _Load:
    """Requests to a model from a thread, about 50 a second, counting
    what answered and what failed, until stopped."""

    def __init__(self, engine: Engine) -> None:
        import threading

        self.engine = engine
        self.answered: Counter[str] = Counter()
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.engine.predict_each("scaled", [ROW])
            except InvalidArgument:  # the model refused the request as a whole
                self.failed += 1
                continue
            if answer["errors"]:
                self.failed += 1
            else:
                self.answered[answer["version"]] += 1
            self._stop.wait(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def hosted(home: Path, tmp_path: Path) -> Iterator[Engine]:
    """``scaled`` on an Engine whose jobs run in an on-demand job host."""
    engine = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, cancel_grace_s=1.0)
    yield deploy_scaled(engine, tmp_path)
    engine.close()


def test_a_canary_moves_step_by_step_and_becomes_the_default(hosted: Engine) -> None:
    engine = hosted
    load = _Load(engine)
    try:
        job = engine.rollout(
            "scaled", "v2", steps=[50, 100], interval_s=1.0, max_error_rate=0.2, min_requests=5
        )
        done = engine.wait_job(job.job_id, timeout=120)
    finally:
        load.stop()
    assert done.state == "SUCCEEDED", done.error_message
    model = engine.get_model("scaled")
    assert (
        model.default_version is not None and model.default_version.name == "v2" and model.traffic_split == {}
    )
    assert load.failed == 0 and load.answered["v2"] > 0 and load.answered["v1"] > 0
    assert done.progress is not None and [s["share"] for s in done.progress["steps"]] == [50, 100]
    reasons = [
        e.details.get("reason") for e in engine.model_history("scaled") if e.action == "TRAFFIC_CHANGED"
    ]
    assert reasons == [
        f"rollout {job.job_id}: step 1 of 2, v2 at 50%",
        f"rollout {job.job_id}: step 2 of 2, v2 at 100%",
        f"rollout {job.job_id}: done, v2 is the default",
    ]
    assert [r.job_id for r in engine.rollouts("scaled")] == [job.job_id]
    # Its panel in the notebook: the canary's figures of its last step beside the others'.
    from mlnb.widgets import JobPanel

    panel = JobPanel(engine, job.job_id, widgets=True)
    shown = panel.rollout_box.value
    assert panel.rollout_box.layout.display == "" and "Step 2 of 2: v2 takes 100% of the traffic" in shown
    last, others = done.progress["last"], done.progress["others"]
    assert last["requests"] > 0 and f"<td style='padding:0 1em'>{last['requests']}</td>" in shown
    assert "the others" in shown and f"<td style='padding:0 1em'>{others['requests']}</td>" in shown
    assert done.progress["steps"][0]["others"]["requests"] > 0  # v1 answered half of the first
    # Its chart: the canary's and the others' figures at each look, over time.
    names = {trace.name for trace in panel.chart.data}
    assert {"canary p99 ms", "canary failed %", "others p99 ms", "others failed %"} <= names
    canary = next(t for t in panel.chart.data if t.name == "canary failed %")
    assert list(canary.x) == sorted(canary.x) and set(canary.y) == {0.0}  # v2 never failed
    assert panel.chart.layout.xaxis.title.text == "seconds"


def test_a_failing_canary_is_rolled_back_within_one_interval(hosted: Engine) -> None:
    engine = hosted
    engine.set_traffic_split("scaled", {"v1": 80, "v2": 20})
    load = _Load(engine)
    try:
        job = engine.rollout(
            "scaled", "v3", steps=[10, 50, 100], interval_s=30.0, max_error_rate=0.1, min_requests=5
        )
        ended = engine.wait_job(job.job_id, timeout=120)
        failed_then = load.failed
    finally:
        load.stop()
    assert ended.state == "FAILED"
    assert ended.error_message is not None and ended.error_message.startswith("Rolled back: v3 failed 100.0%")
    assert "at 10% of the traffic" in ended.error_message
    # Back to the split before the rollout, long before the 30 s step ended.
    assert engine.get_model("scaled").traffic_split == {"v1": 80, "v2": 20}
    assert ended.end_time is not None and ended.start_time is not None
    assert (ended.end_time - ended.start_time).total_seconds() < 30
    assert failed_then >= 5 and set(load.answered) <= {"v1", "v2"}
    (rolled_back,) = [
        e for e in engine.model_history("scaled") if "rolled back" in str(e.details.get("reason", ""))
    ]
    assert rolled_back.details["trafficSplit"]["after"] == {"v1": 80, "v2": 20}
    with pytest.raises(InvalidArgument, match="steps must rise to 100"):
        engine.rollout("scaled", "v2", steps=[50, 20])


def test_a_rollout_reads_what_a_servers_workers_answered_without_request_logs(
    home: Path, tmp_path: Path
) -> None:
    import threading

    from support.rest_server import exchange, running_server

    from mlnb.prediction import ServedCounts
    from mlnb.records import now
    from mlnb.store import Database

    engine = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, cancel_grace_s=1.0)
    engine.create_model("plain")  # no onlinePredictionLogging
    for name, factor, fail_after in (("v1", 1.0, None), ("v3", 3.0, 0)):
        model_dir, package = model_factory.custom_routine(
            tmp_path / name, factor=factor, fail_after=fail_after
        )
        engine.create_version(
            "plain", name, model_dir, prediction_class="scaled_sum.ScaledSum", package_uris=[package]
        )
    started = now()
    failed: list[int] = []
    answered: list[str] = []
    try:
        with running_server(home, 2) as port:
            stop = threading.Event()

            def load() -> None:
                # A new connection each: both workers take requests, batched ones.
                while not stop.is_set():
                    status, _, headers = exchange(
                        f"http://127.0.0.1:{port}",
                        "POST",
                        "/v1/projects/default/models/plain:predict",
                        {"instances": [ROW]},
                    )
                    if status == 200:
                        answered.append(headers["x-mlnb-version"])
                    else:
                        failed.append(status)
                    stop.wait(0.01)

            thread = threading.Thread(target=load)
            thread.start()
            try:
                job = engine.rollout(
                    "plain", "v3", steps=[20, 100], interval_s=30.0, max_error_rate=0.1, min_requests=5
                )
                ended = engine.wait_job(job.job_id, timeout=120)
            finally:
                stop.set()
                thread.join(timeout=30)
        assert ended.state == "FAILED", ended.error_message
        assert ended.error_message is not None and ended.error_message.startswith(
            "Rolled back: v3 failed 100.0%"
        )
        assert engine.get_model("plain").traffic_split == {}
        assert failed and set(answered) == {"v1"}
        # What the server's workers counted, read back from the store by another process.
        tallies = ServedCounts(Database(engine.settings.database_url)).tallies("default", "plain", started)
        assert tallies["v1"].requests == len(answered) and tallies["v1"].errors == 0
        assert tallies["v3"].errors == tallies["v3"].requests >= 5
        assert engine.prediction_log("plain") == []  # nothing was logged
    finally:
        engine.close()


def test_a_rollout_whose_host_dies_gives_the_split_back(hosted: Engine, home: Path) -> None:
    from support.webhooks import WebhookListener

    engine = hosted
    # The model names no channel: the process that ends the dead host's job
    # tells its own (here a second Engine's webhook) of the split restored.
    engine.update_model("scaled", notifications={"on": ["TRAFFIC_CHANGED"]})
    hook = WebhookListener()
    reaper = Engine(home=str(home), job_heartbeat_s=0.2, notify_webhook=hook.url)
    job = engine.rollout("scaled", "v2", steps=[50, 100], interval_s=600.0, max_error_rate=0.2)
    wait_for(lambda: engine.get_model("scaled").traffic_split == {"v1": 50, "v2": 50}, "the first step")

    def recorded() -> int | None:
        now = engine.get_job(job.job_id)
        return now.runner_pid if (now.progress or {}).get("before") else None

    host_pid = wait_for(recorded, "the step to be recorded with the split it changed")
    os.kill(host_pid, signal.SIGKILL)  # the job host, mid-step
    try:
        # Only the reaper ends the job (its reap writes the end and tells of
        # the split). Waiting for a read to show it ended would race: a read
        # shows the end as soon as the host is seen dead, before any reap.
        (reaped,) = wait_for(reaper.reap_jobs, "the reaper to end the dead host's job")
        assert reaped.job_id == job.job_id
        (told,) = wait_for(lambda: hook.received or None, "the reaper's webhook to hear of the split")
    finally:
        reaper.close()
        hook.close()
    assert told["event"] == "TRAFFIC_CHANGED" and told["model"] == "scaled"
    assert f"rollout {job.job_id} rolled back: its job host died" in told["text"], told["text"]
    ended = engine.get_job(job.job_id)
    assert ended.state == "FAILED" and ended.error_message is not None
    assert ended.error_message.endswith("; the split before the rollout was restored"), ended.error_message
    model = engine.get_model("scaled")
    assert (
        model.traffic_split == {} and model.default_version is not None and model.default_version.name == "v1"
    )
    (event,) = [
        e for e in engine.model_history("scaled") if "its job host died" in str(e.details.get("reason"))
    ]
    assert event.details["trafficSplit"]["after"] == {}


def test_the_cli_compares_a_shadow(
    scaled: Engine, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlnb.cli import main

    scaled.set_shadow("scaled", "v2")
    for _ in range(3):
        scaled.predict("scaled", [ROW])
    scaled.close()  # the shadow's copies and the log sent
    monkeypatch.setenv("MLNB_HOME", str(home))
    assert main(["models", "compare", "scaled"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["TIME", "SERVED", "BY"] and len(out) == 5  # a row a disagreement
    assert out[-1] == "3 copies, 3 instances: agreement 0.0%, 0 shadow errors"
