"""Monitoring end to end: a version's baseline from its training data, its
served instances sampled into the store, drift flagged for the one feature
that moved (and not for the others), skew of another data set, clear
errors without a baseline."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from support.webhooks import WebhookListener

from mlnb.api import Engine
from mlnb.errors import FailedPrecondition

pytestmark = pytest.mark.integration

COLUMNS = ["a", "b", "c"]


def sample(rng: np.random.Generator, rows: int, shift_b: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)
    frame["b"] += shift_b
    return frame


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> tuple[Engine, pd.DataFrame]:
    rng = np.random.default_rng(0)
    training = sample(rng, 2000)
    target = (training["a"] + training["b"] > 0).astype(int)
    (tmp_path / "model").mkdir()
    joblib.dump(LogisticRegression().fit(training, target), tmp_path / "model" / "model.joblib")
    engine.create_model("watched", online_prediction_logging=True)
    engine.create_version("watched", "v1", tmp_path / "model")
    return engine, training


def test_drift_is_flagged_for_the_feature_that_moved_only(served: tuple[Engine, pd.DataFrame]) -> None:
    engine, training = served
    with pytest.raises(FailedPrecondition, match="has no baseline: set one with mlnb monitor baseline"):
        engine.drift("watched")
    baseline = engine.set_baseline("watched", training, source="training")
    assert engine.drift_checks() == []  # a baseline never checked has no figures to show
    features = baseline["profile"]["features"]
    assert set(features) == set(COLUMNS) and features["a"]["kind"] == "number"
    assert features["a"]["count"] == 2000 and len(features["a"]["fractions"]) == 10
    assert baseline["profile"]["predictions"]["features"]["0"]["kind"] == "category"  # the predicted labels
    rng = np.random.default_rng(1)
    for _ in range(6):  # served like the training data
        engine.predict("watched", sample(rng, 50).to_numpy().tolist())
    calm = engine.drift("watched", last=6)
    assert calm["requests"] == 6 and calm["rows"] == 300 and calm["drifted"] == []
    assert all(f["psi"] < 0.1 for f in calm["features"].values())
    for _ in range(6):  # then with b moved by two standard deviations
        engine.predict("watched", sample(rng, 50, shift_b=2.0).to_numpy().tolist())
    moved = engine.drift("watched", last=6)
    assert moved["drifted"] == ["b"]
    assert moved["features"]["b"]["psi"] > 1.0 and moved["features"]["b"]["ks"] > 0.5
    assert moved["features"]["a"]["psi"] < 0.1 and moved["features"]["c"]["psi"] < 0.1
    # The predictions moved with b: more of class 1.
    assert moved["predictions"]["features"]["0"]["psi"] > calm["predictions"]["features"]["0"]["psi"]
    # Skew: another data set measured against the same baseline.
    skew = engine.drift("watched", data=sample(rng, 500, shift_b=-2.0))
    assert skew["kind"] == "skew" and skew["drifted"] == ["b"]
    # Another version's requests logged since do not crowd v1's out of its window.
    engine.create_version("watched", "v2", Path(engine.get_version("watched", "v1").deployment_uri))
    for _ in range(5):
        engine.predict("watched", sample(rng, 50).to_numpy().tolist(), version="v2")
    still = engine.drift("watched", version="v1", last=6)
    assert still["requests"] == 6 and still["drifted"] == ["b"]


def test_categories_are_compared_by_their_frequencies(engine: Engine, tmp_path: Path) -> None:
    profile = engine.describe_data(
        [{"colour": "red", "size": 1.5}] * 80 + [{"colour": "blue", "size": 2.25}] * 20
    )
    colour = profile["features"]["colour"]
    assert colour["kind"] == "category" and colour["top"] == {"red": 0.8, "blue": 0.2}
    assert profile["features"]["size"]["kind"] == "number" and profile["rows"] == 100
    # Whole numbers of a few values (class labels) are categories too.
    assert engine.describe_data([[0], [1], [1], [2]])["features"]["0"]["top"] == {
        "1": 0.5,
        "0": 0.25,
        "2": 0.25,
    }


def test_the_cli_sets_a_baseline_and_prints_the_drift(
    served: tuple[Engine, pd.DataFrame],
    tmp_path: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlnb.cli import main

    engine, training = served
    monkeypatch.setenv("MLNB_HOME", str(home))
    training.to_csv(tmp_path / "training.csv", index=False)
    assert main(["monitor", "baseline", "--model", "watched", "--data", str(tmp_path / "training.csv")]) == 0
    assert "Set the baseline of version [v1] of model [watched]: 2000 rows of" in capsys.readouterr().out
    rng = np.random.default_rng(2)
    for _ in range(4):
        engine.predict("watched", sample(rng, 50, shift_b=3.0).to_numpy().tolist())
    engine.close()  # the prediction log's last entries sent
    assert main(["monitor", "drift", "--model", "watched", "--last", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["FEATURE", "KIND", "ROWS", "PSI", "KS", "CHI2", "P", "DRIFTED"]
    rows = {line.split()[0]: line.split() for line in out[1:-1]}
    assert rows["b"][-1] == "yes" and rows["a"][-1] != "yes" and "prediction" in rows
    assert out[-1].startswith("200 instances of version v1's last 4 logged requests (0 failed, p99 ")
    assert out[-1].endswith("drifted b (PSI > 0.2)")
    assert main(["monitor", "describe", "--data", str(tmp_path / "training.csv")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2000 rows"
    # A baseline given at deployment.
    command = ["versions", "create", "v2", "--model", "watched", "--origin", str(tmp_path / "model")]
    assert main([*command, "--baseline", str(tmp_path / "training.csv")]) == 0
    capsys.readouterr()
    reader = Engine(home=str(home))
    baseline = reader.get_baseline("watched", version="v2")
    reader.close()
    assert baseline is not None and baseline["profile"]["rows"] == 2000


def test_a_drift_alert_reaches_the_webhook_once_and_the_gauge_crosses_the_threshold(
    served: tuple[Engine, pd.DataFrame], home: Path
) -> None:
    from starlette.testclient import TestClient

    from mlnb.config import Settings
    from mlnb.server import create_app

    engine, training = served
    listener = WebhookListener()
    try:
        engine.set_baseline("watched", training, alerting={"webhook": listener.url, "window": 4})
        with TestClient(create_app(Settings.resolve(env={}, home=str(home)))) as client:
            unchecked = client.get("/metrics")
        assert unchecked.status_code == 200 and "mlnb_drift_psi" not in unchecked.text
        rng = np.random.default_rng(3)
        for _ in range(4):
            engine.predict("watched", sample(rng, 50).to_numpy().tolist())
        calm = engine.check_drift("watched")
        assert calm["drifted"] == [] and not calm["alerted"] and listener.received == []
        for _ in range(4):
            engine.predict("watched", sample(rng, 50, shift_b=2.0).to_numpy().tolist())
        first = engine.check_drift("watched")
        assert first["drifted"] == ["b"] and first["alerted"] and first["delivery"]["delivered"]
        # The same drift checked again (by this host or another): no second alert.
        again = engine.check_drift("watched")
        assert again["drifted"] == ["b"] and not again["alerted"]
        (alert,) = listener.received
        assert alert["drifted"] == ["b"] and alert["model"] == "watched" and alert["version"] == "v1"
        assert alert["text"].startswith("mlnb: version v1 of model watched (default) has drifted: b (PSI ")
        (event,) = [e for e in engine.model_history("watched") if e.action == "DRIFT_ALERT"]
        assert event.version == "v1" and event.details["drifted"] == ["b"]
        with TestClient(create_app(Settings.resolve(env={}, home=str(home)))) as client:
            metrics = client.get("/metrics").text
        (line,) = [
            m
            for m in metrics.splitlines()
            if m.startswith('mlnb_drift_psi{model="watched",version="v1",feature="b"}')
        ]
        assert float(line.split()[-1]) > 0.2
        assert 'mlnb_drift_features{model="watched",version="v1"} 1' in metrics
    finally:
        listener.close()


def test_a_teams_job_host_checks_on_its_schedule_and_alerts_once(tmp_path: Path) -> None:
    from support.team import ServiceHost, machine, shared_database
    from support.waiting import wait_for

    database = shared_database(tmp_path)
    laptop = Engine(machine(tmp_path, "laptop", database))
    rng = np.random.default_rng(4)
    training = sample(rng, 1000)
    (tmp_path / "model").mkdir()
    target = (training["a"] > 0).astype(int)
    joblib.dump(LogisticRegression().fit(training, target), tmp_path / "model" / "model.joblib")
    laptop.create_model("watched", online_prediction_logging=True)
    laptop.create_version("watched", "v1", tmp_path / "model")
    listener = WebhookListener()
    host = None
    try:
        laptop.set_baseline("watched", training, alerting={"webhook": listener.url, "window": 3})
        for _ in range(3):
            laptop.predict("watched", sample(rng, 50, shift_b=3.0).to_numpy().tolist())
        laptop.close()  # the log's entries in the shared store
        host = ServiceHost(machine(tmp_path, "server", database, monitor_interval_s=0.3))
        wait_for(lambda: listener.received, "the job host's drift alert")
        first = laptop.get_baseline("watched")["lastCheck"]["time"]
        # Checked again since, with the same drift: still one alert.
        wait_for(lambda: laptop.get_baseline("watched")["lastCheck"]["time"] != first, "a second check")
        assert len(listener.received) == 1 and listener.received[0]["drifted"] == ["b"]
        assert any("drift alert for default/watched/v1: b" in line for line in host.lines)
    finally:
        if host is not None:
            host.stop()
        listener.close()
        laptop.close()


def test_failing_requests_past_the_bound_alert_once(served: tuple[Engine, pd.DataFrame]) -> None:
    from mlnb.errors import InvalidArgument

    engine, training = served
    listener = WebhookListener()
    try:
        alerting = {"webhook": listener.url, "window": 10, "maxErrorRate": 0.25}
        engine.set_baseline("watched", training, alerting=alerting)
        rng = np.random.default_rng(5)
        for _ in range(6):
            engine.predict("watched", sample(rng, 20).to_numpy().tolist())
        for _ in range(4):  # two features where the model takes three: refused, and logged
            with pytest.raises(InvalidArgument):
                engine.predict("watched", [[1.0, 2.0]])
        answer = engine.check_drift("watched")
        assert answer["errorRate"] == pytest.approx(0.4) and answer["alarms"] == ["error rate"]
        assert answer["alerted"] and not engine.check_drift("watched")["alerted"]
        (alert,) = listener.received
        assert (
            alert["text"] == "mlnb: version v1 of model watched (default) fails 40.0% of its logged requests"
        )
    finally:
        listener.close()


def test_a_baseline_from_the_first_served_instances(
    served: tuple[Engine, pd.DataFrame],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlnb.cli import main

    engine, _ = served
    rng = np.random.default_rng(7)
    first = [sample(rng, 50) for _ in range(4)]
    for frame in first:
        engine.predict("watched", frame.to_numpy().tolist())
    with pytest.raises(FailedPrecondition, match="has answered 200 logged instances, not 500"):
        engine.set_baseline("watched", served=500)
    for _ in range(4):  # later traffic, with b moved: not in the baseline
        engine.predict("watched", sample(rng, 50, shift_b=2.0).to_numpy().tolist())
    baseline = engine.set_baseline("watched", served=200, alerting={"maxLatencyP99Ms": 60_000})
    assert baseline["profile"]["rows"] == 200 and baseline["source"].startswith(
        "the first 200 instances served"
    )
    taken = pd.concat(first)  # served as lists: features by position
    assert baseline["profile"]["features"]["1"]["mean"] == pytest.approx(float(taken["b"].mean()))
    assert baseline["profile"]["predictions"]["rows"] == 200  # the answers it gave, as logged
    moved = engine.drift("watched", last=4)
    assert moved["drifted"] == ["1"] and moved["latencyP99Ms"] > 0
    checked = engine.check_drift("watched")
    assert checked["alarms"] == ["1"] and 0 < checked["latencyP99Ms"] < 60_000  # under its bound
    engine.close()  # the prediction log's last entries sent
    monkeypatch.setenv("MLNB_HOME", str(home))
    assert main(["monitor", "baseline", "--model", "watched", "--served", "100"]) == 0
    assert "100 rows of the first 100 instances served" in capsys.readouterr().out
    assert main(["monitor", "baseline", "--model", "watched"]) == 1
    assert "Give --data (training data) or --served N" in capsys.readouterr().err


def test_a_slow_version_alerts_on_its_latency_p99(served: tuple[Engine, pd.DataFrame]) -> None:
    from mlnb.errors import InvalidArgument

    engine, training = served
    listener = WebhookListener()
    try:
        with pytest.raises(InvalidArgument, match="maxLatencyP99Ms must be a positive number"):
            engine.set_baseline("watched", training, alerting={"maxLatencyP99Ms": 0})
        # A bound no model call can meet (a thousandth of a millisecond): the alarm is the latency's.
        alerting = {"webhook": listener.url, "window": 10, "maxLatencyP99Ms": 0.001}
        engine.set_baseline("watched", training, alerting=alerting)
        rng = np.random.default_rng(6)
        for _ in range(5):
            engine.predict("watched", sample(rng, 20).to_numpy().tolist())
        answer = engine.check_drift("watched")
        assert answer["alarms"] == ["latency p99"] and answer["alerted"]
        assert not engine.check_drift("watched")["alerted"]  # the same alarm: said once
        (alert,) = listener.received
        assert "answers its logged requests in" in alert["text"] and alert["latencyP99Ms"] > 0.001
        (check,) = engine.drift_checks()
        assert check["lastCheck"]["latencyP99Ms"] == answer["latencyP99Ms"]
    finally:
        listener.close()
