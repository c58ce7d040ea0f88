"""Sampled Shapley explanations (``mlnb.explain``) on real scikit-learn
models: the properties that make them right (completeness, a linear
model's exact values, a feature the model ignores), agreement with
``shap``'s exact computation, and clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.explain import ExplanationConfig, explain_instances
from mlnb.frameworks.sklearn import EstimatorPredictor

RNG = np.random.default_rng(7)
X = RNG.normal(size=(300, 4))
Y = X @ np.array([1.0, -2.0, 0.0, 3.0]) + 0.5


def attributions(answer: dict[str, Any], index: int = 0) -> dict[str, Any]:
    explained: dict[str, Any] = answer["explanations"][index]["attributions_by_label"][0]
    return explained


def test_a_linear_models_attributions_are_coef_times_distance_from_the_baseline() -> None:
    model = LinearRegression().fit(X, Y)
    baseline = [0.5, -1.0, 2.0, 0.25]
    config = ExplanationConfig(num_paths=3, baseline=baseline)
    answer = explain_instances(EstimatorPredictor(model), X[:5].tolist(), config)
    for i in range(5):
        got = attributions(answer, i)
        want = model.coef_ * (X[i] - baseline)
        assert np.allclose([got["attributions"][str(j)] for j in range(4)], want, atol=1e-9)
        assert got["approx_error"] == pytest.approx(0, abs=1e-9)  # every order agrees
    assert answer["baseline"]["values"] == dict(zip("0123", baseline, strict=True))
    assert answer["method"] == "sampledShapleyAttribution" and answer["modelCalls"] == 1


def test_attributions_sum_to_the_score_minus_the_baselines_for_a_classifier() -> None:
    model = LogisticRegression().fit(X, (Y > 0).astype(int))
    answer = explain_instances(EstimatorPredictor(model), X[:20].tolist(), ExplanationConfig(num_paths=7))
    for i in range(20):
        got = attributions(answer, i)
        probabilities = model.predict_proba(X[i : i + 1])[0]
        # The predicted class's probability is what is explained.
        assert got["label_index"] == int(np.argmax(probabilities))
        assert got["example_score"] == pytest.approx(probabilities.max())
        total = sum(got["attributions"].values())
        assert total == pytest.approx(got["example_score"] - got["baseline_score"], abs=1e-9)


def test_a_feature_the_model_ignores_gets_nothing() -> None:
    only_first = make_pipeline(
        ColumnTransformer([("first", "passthrough", [0])]),
        RandomForestRegressor(n_estimators=20, random_state=0),
    ).fit(X, X[:, 0] ** 2 + X[:, 1])
    answer = explain_instances(EstimatorPredictor(only_first), X[:10].tolist(), ExplanationConfig())
    for i in range(10):
        values = attributions(answer, i)["attributions"]
        assert values["1"] == values["2"] == values["3"] == 0.0


def test_sampled_shapley_agrees_with_shaps_exact_values() -> None:
    shap = pytest.importorskip("shap")
    model = RandomForestRegressor(n_estimators=30, max_depth=5, random_state=0).fit(X, X[:, 0] * X[:, 1] + Y)
    baseline = X.mean(axis=0)
    instances = X[:8]
    # shap's exact Shapley values against the same single baseline row.
    exact = shap.explainers.Exact(model.predict, baseline[None, :])(instances).values
    config = ExplanationConfig(num_paths=100, baseline=baseline.tolist())
    answer = explain_instances(EstimatorPredictor(model), instances.tolist(), config)
    for i in range(len(instances)):
        got = attributions(answer, i)
        values = np.array([got["attributions"][str(j)] for j in range(4)])
        scale = np.abs(values).sum()
        # Within a few of the answer's own stated sampling errors.
        assert np.abs(values - exact[i]).max() <= max(5 * got["approx_error"] * scale, 1e-6)


def test_a_pipeline_is_explained_in_the_raw_features_the_user_sent() -> None:
    frame = pd.DataFrame({"size": X[:, 0], "colour": np.where(X[:, 1] > 0, "red", "blue")})
    target = frame["size"] * 2 + (frame["colour"] == "red") * 3
    pipeline = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["size"]), ("cat", OneHotEncoder(), ["colour"])]),
        LinearRegression(),
    ).fit(frame, target)
    instances = [
        {"size": 1.0, "colour": "red"},
        {"size": -1.0, "colour": "blue"},
        {"size": 0.5, "colour": "red"},
    ]
    answer = explain_instances(EstimatorPredictor(pipeline), instances, ExplanationConfig())
    first = attributions(answer)
    assert set(first["attributions"]) == {"size", "colour"}
    # No baseline given: 0 for the number, the request's most frequent value for the category.
    assert answer["baseline"]["values"] == {"size": 0, "colour": "red"}
    assert first["attributions"]["size"] == pytest.approx(2.0, abs=1e-6)
    assert first["attributions"]["colour"] == pytest.approx(0.0, abs=1e-6)
    assert attributions(answer, 1)["attributions"]["colour"] == pytest.approx(-3.0, abs=1e-6)


def test_lists_take_the_names_the_model_knows() -> None:
    frame = pd.DataFrame(X[:, :2], columns=["height", "width"])
    model = LinearRegression().fit(frame, Y)
    answer = explain_instances(EstimatorPredictor(model), [[1.0, 2.0]], ExplanationConfig())
    assert set(attributions(answer)["attributions"]) == {"height", "width"}


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], "Instance 1 is not a list of 4 values"),
        ([{"a": 1.0}, [1.0]], "Instance 1 is not an object"),
        ([{"a": 1.0, "b": 2.0}, {"a": 1.0}], "Instance 1 has no 'b'"),
    ],
)
def test_instances_of_mixed_shapes_are_refused(instances: list[Any], message: str) -> None:
    model = LinearRegression().fit(X, Y)
    with pytest.raises(InvalidArgument, match=message):
        explain_instances(EstimatorPredictor(model), instances, ExplanationConfig())


def test_a_model_that_answers_with_labels_cannot_be_explained() -> None:
    class Labels:
        def predict(self, instances: Any, **kwargs: Any) -> list[str]:
            return ["yes" for _ in instances]

    with pytest.raises(FailedPrecondition, match="not numbers"):
        explain_instances(Labels(), [[1.0]], ExplanationConfig())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"sampledShapleyAttribution": {"numPaths": 0}}, r"numPaths must be a whole number from 1 to 100"),
        ({"sampledShapleyAttribution": {}, "xraiAttribution": {}}, "names 2 methods"),
        ({"shapley": {}}, "unknown field"),
        ({"baseline": "zeros"}, "baseline must be a list"),
        ([], "must be an object"),
    ],
)
def test_a_bad_explanation_config_names_its_field(body: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ExplanationConfig.from_api(body)


def test_a_config_reads_back_in_full_and_unserved_methods_say_so() -> None:
    config = ExplanationConfig.from_api({"sampledShapleyAttribution": {"numPaths": "25"}, "baseline": [0, 1]})
    assert config.to_api() == {"sampledShapleyAttribution": {"numPaths": 25}, "baseline": [0, 1]}
    assert ExplanationConfig.from_api({}).to_api() == {"sampledShapleyAttribution": {"numPaths": 10}}
    gradients = ExplanationConfig.from_api({"integratedGradientsAttribution": {"numIntegralSteps": 50}})
    with pytest.raises(InvalidArgument, match="integratedGradientsAttribution is not served by mlnb yet"):
        gradients.check_served()
