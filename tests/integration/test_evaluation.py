"""Evaluations of deployed versions on labelled data: the figures equal
scikit-learn's own on the same predictions, for classifiers (with and
without class probabilities in the model's answer) and regressors, from a
DataFrame or a file; they are kept with the version; two versions compared
with a bootstrap interval of their difference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression

from mlnb.api import Engine
from mlnb.errors import InvalidArgument

pytestmark = pytest.mark.integration

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_frame(iris_features: Any) -> pd.DataFrame:
    from sklearn.datasets import load_iris

    frame = pd.DataFrame(iris_features, columns=COLUMNS)
    frame["species"] = load_iris().target
    return frame


def test_a_classifier_is_measured_as_scikit_learn_measures_it(
    engine: Engine, sklearn_model: tuple[Path, Any], iris_features: Any
) -> None:
    engine.deploy("iris", "v1", sklearn_model[0])
    frame = iris_frame(iris_features)
    record = engine.evaluate("iris", frame, "species", dataset="iris-all")
    model = sklearn_model[1]
    truth, probabilities = frame["species"], model.predict_proba(iris_features)
    predicted = model.predict(iris_features)
    got = record.metrics
    assert record.task == "classification" and record.rows == 150 and record.version == "v1"
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert got["f1Macro"] == pytest.approx(metrics.f1_score(truth, predicted, average="macro"))
    assert got["logLoss"] == pytest.approx(metrics.log_loss(truth, probabilities))
    assert got["rocAuc"] == pytest.approx(metrics.roc_auc_score(truth, probabilities, multi_class="ovr"))
    assert got["confusionMatrix"]["matrix"] == metrics.confusion_matrix(truth, predicted).tolist()
    assert set(got["roc"]) == {"0", "1", "2"} and got["roc"]["1"]["fpr"][0] == 0.0
    assert record.headline == {k: got[k] for k in ("accuracy", "f1Macro", "logLoss", "rocAuc")}
    # Kept with the version, with the data's fingerprint: the same rows, the same print.
    (kept,) = engine.list_evaluations("iris", version="v1")
    assert kept.evaluation_id == record.evaluation_id and kept.metrics == got
    again = engine.evaluate("iris", frame.copy(), "species", store=False)
    assert again.fingerprint == record.fingerprint
    changed = frame.copy()
    changed.loc[0, "species"] = 2
    assert engine.evaluate("iris", changed, "species", store=False).fingerprint != record.fingerprint
    assert len(engine.list_evaluations("iris")) == 1
    # The newest of a version's evaluations is the one its summaries show.
    newer = engine.evaluate("iris", changed, "species", dataset="changed")
    assert engine.latest_evaluations()[("iris", "v1")].evaluation_id == newer.evaluation_id


def test_a_regressor_from_a_csv_file(engine: Engine, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.3, size=300)
    model = LinearRegression().fit(x[:200], y[:200])
    (tmp_path / "linear").mkdir()
    joblib.dump(model, tmp_path / "linear" / "model.joblib")
    engine.deploy("linear", "v1", tmp_path / "linear")
    data = pd.DataFrame(x[200:], columns=["a", "b", "c"]).assign(y=y[200:])
    data.to_csv(tmp_path / "holdout.csv", index=False)
    record = engine.evaluate("linear", tmp_path / "holdout.csv", "y")
    predicted = model.predict(x[200:])
    assert record.task == "regression" and record.dataset == str(tmp_path / "holdout.csv")
    assert record.metrics["mae"] == pytest.approx(metrics.mean_absolute_error(y[200:], predicted))
    assert record.metrics["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y[200:], predicted)))
    assert record.metrics["r2"] == pytest.approx(metrics.r2_score(y[200:], predicted))
    residuals = record.metrics["residuals"]
    assert len(residuals["residual"]) == 100
    assert residuals["residual"][0] == pytest.approx(y[200] - predicted[0])
    with pytest.raises(InvalidArgument, match=r"no column 'target' \(its columns: a, b, c, y\)"):
        engine.evaluate("linear", tmp_path / "holdout.csv", "target")


def test_a_model_answering_with_probabilities_is_read_by_position(
    engine: Engine, xgboost_model: tuple[Path, Any], iris_features: Any
) -> None:
    import xgboost as xgb

    engine.deploy("boosted", "v1", xgboost_model[0])
    frame = iris_frame(iris_features)
    record = engine.evaluate("boosted", frame, "species")
    probabilities = xgboost_model[1].predict(xgb.DMatrix(iris_features))
    assert record.task == "classification"
    assert record.metrics["accuracy"] == pytest.approx(
        metrics.accuracy_score(frame["species"], probabilities.argmax(axis=1))
    )
    assert record.metrics["logLoss"] == pytest.approx(
        metrics.log_loss(frame["species"], probabilities), rel=1e-5
    )


def test_two_versions_compared_with_a_bootstrap_interval(
    engine: Engine, sklearn_model: tuple[Path, Any], iris_features: Any, tmp_path: Path
) -> None:
    frame = iris_frame(iris_features)
    dummy = DummyClassifier(strategy="most_frequent").fit(iris_features, frame["species"])
    (tmp_path / "dummy").mkdir()
    joblib.dump(dummy, tmp_path / "dummy" / "model.joblib")
    engine.deploy("iris", "good", sklearn_model[0])
    engine.deploy("iris", "dummy", tmp_path / "dummy")
    compared = engine.compare_versions("iris", ("good", "dummy"), frame, "species", dataset="iris-all")
    good, worse = compared["evaluations"]
    accuracy = compared["differences"]["accuracy"]
    assert accuracy["difference"] == pytest.approx(worse.metrics["accuracy"] - good.metrics["accuracy"])
    # The dummy is far worse: the whole interval is below zero.
    assert accuracy["low"] <= accuracy["difference"] <= accuracy["high"] < 0
    assert good.fingerprint == worse.fingerprint
    assert {e.version for e in engine.list_evaluations("iris")} == {"good", "dummy"}


def test_a_gate_refuses_a_worse_version_and_lets_a_better_one_in(
    engine: Engine, sklearn_model: tuple[Path, Any], iris_features: Any, tmp_path: Path
) -> None:
    from mlnb.errors import FailedPrecondition

    frame = iris_frame(iris_features)
    dummy = DummyClassifier(strategy="most_frequent").fit(iris_features, frame["species"])
    (tmp_path / "dummy").mkdir()
    joblib.dump(dummy, tmp_path / "dummy" / "model.joblib")
    engine.deploy("iris", "v1", sklearn_model[0])  # the first version is the default
    engine.deploy("iris", "dummy", tmp_path / "dummy")
    engine.deploy("iris", "v3", sklearn_model[0])
    gates = engine.evaluation_gates("holdout:accuracy>=0.9")
    assert engine.update_model("iris", evaluation_gates=gates).evaluation_gates == gates
    with pytest.raises(FailedPrecondition, match="dummy has no evaluation on dataset 'holdout'"):
        engine.set_default_version("iris", "dummy")
    engine.evaluate("iris", frame, "species", version="dummy", dataset="holdout")
    with pytest.raises(FailedPrecondition, match=r"holdout:accuracy>=0.9: dummy has accuracy 0.33"):
        engine.set_default_version("iris", "dummy")
    assert engine.get_model("iris").default_version.name == "v1"
    record = engine.evaluate("iris", frame, "species", version="v3", dataset="holdout")
    assert engine.set_default_version("iris", "v3").is_default
    changed = [e for e in engine.model_history("iris") if e.action == "DEFAULT_CHANGED"][-1]
    assert changed.details["evaluations"] == [record.evaluation_id]
    assert changed.details["gates"] == ["holdout:accuracy>=0.9"]
    # Without gates, any READY version may be the default again.
    engine.update_model("iris", evaluation_gates=[])
    assert engine.set_default_version("iris", "dummy").is_default


def test_a_refused_gate_is_kept_in_the_history_and_told_to_the_models_webhook_and_the_hosts_mail(
    home: Path, sklearn_model: tuple[Path, Any], iris_features: Any, tmp_path: Path
) -> None:
    from support.smtp import SmtpListener
    from support.waiting import wait_for
    from support.webhooks import WebhookListener

    from mlnb.config import Settings
    from mlnb.errors import GateRefused

    hook, smtp = WebhookListener(), SmtpListener()
    settings = Settings.resolve(
        env={}, home=str(home), actor="tester", smtp_url=smtp.url, notify_email="ops@example.com"
    )
    engine = Engine(settings)
    try:
        frame = iris_frame(iris_features)
        dummy = DummyClassifier(strategy="most_frequent").fit(iris_features, frame["species"])
        (tmp_path / "dummy").mkdir()
        joblib.dump(dummy, tmp_path / "dummy" / "model.joblib")
        engine.deploy("iris", "v1", sklearn_model[0])
        engine.deploy("iris", "dummy", tmp_path / "dummy")
        engine.update_model("iris", evaluation_gates=engine.evaluation_gates("holdout:accuracy>=0.9"))
        engine.evaluate("iris", frame, "species", version="dummy", dataset="holdout")

        # No notifications of its own: the host's address hears of the refusal.
        with pytest.raises(GateRefused, match=r"dummy has accuracy 0\.33") as refused:
            engine.set_default_version("iris", "dummy")
        assert refused.value.version == "dummy" and refused.value.status == "FAILED_PRECONDITION"
        (mail,) = wait_for(lambda: smtp.received or None, "the host's e-mail")
        assert mail["To"] == "ops@example.com"
        assert mail["Subject"].startswith("mlnb: model iris (default) GATE_REFUSED: Version 'dummy' does not")

        # Its own webhook, for a share of the traffic refused and for a new default.
        wanted = {"webhook": hook.url, "on": ["GATE_REFUSED", "DEFAULT_CHANGED"]}
        assert engine.update_model("iris", notifications=wanted).to_api()["notifications"] == wanted
        with pytest.raises(GateRefused):
            engine.set_traffic_split("iris", {"v1": 90, "dummy": 10})
        (told,) = wait_for(lambda: hook.received or None, "the refusal at the webhook")
        assert told["event"] == "GATE_REFUSED" and told["model"] == "iris" and told["version"] == "dummy"
        assert told["details"]["to"] == "take a share of the traffic"
        assert told["details"]["failures"] == ["holdout:accuracy>=0.9: dummy has accuracy 0.3333"]
        assert told["text"].startswith("mlnb: model iris (default) GATE_REFUSED: Version 'dummy'")
        engine.update_model("iris", evaluation_gates=[])
        engine.set_default_version("iris", "dummy")
        told = wait_for(lambda: hook.received[1] if len(hook.received) > 1 else None, "the new default")
        assert told["event"] == "DEFAULT_CHANGED" and told["version"] == "dummy"
        assert told["text"] == "mlnb: model iris (default) DEFAULT_CHANGED: dummy is the default (it was v1)"
        assert len(smtp.received) == 1  # the model's own notifications replace the host's

        # The history keeps both refusals; the refused changes were not made.
        refusals = [e for e in engine.model_history("iris") if e.action == "GATE_REFUSED"]
        assert [e.details["to"] for e in refusals] == ["become the default", "take a share of the traffic"]
        assert all(e.version == "dummy" and e.actor == "tester" for e in refusals)
        assert engine.get_model("iris").traffic_split == {}

        with pytest.raises(InvalidArgument, match=r"notifications\.on lists events among DEFAULT_CHANGED"):
            engine.update_model("iris", notifications={"on": ["SUCCEEDED"]})
        assert "notifications" not in engine.update_model("iris", notifications={}).to_api()
    finally:
        engine.close()
        hook.close()
        smtp.close()
