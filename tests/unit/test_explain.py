"""Explanations (``mlnb.explain``) on real scikit-learn and XGBoost models:
the properties that make them right (completeness, a linear model's exact
values, a feature the model ignores), agreement with ``shap``'s own
computation (exact Shapley values, its tree explainer), the default method
each model gets, and clear errors. Keras's integrated gradients are in
``tests/integration/test_explain_frameworks.py`` (TensorFlow is slow to import)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.explain import ExplanationConfig, explain_instances, method_for
from mlnb.frameworks.sklearn import EstimatorPredictor
from mlnb.frameworks.xgboost import BoosterPredictor

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
    config = ExplanationConfig("sampled-shapley", num_paths=100, baseline=baseline.tolist())
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


def test_a_config_reads_back_in_full() -> None:
    config = ExplanationConfig.from_api({"sampledShapleyAttribution": {"numPaths": "25"}, "baseline": [0, 1]})
    assert config.to_api() == {"sampledShapleyAttribution": {"numPaths": 25}, "baseline": [0, 1]}
    # No method named: the model's default, chosen when it explains.
    assert ExplanationConfig.from_api({}).to_api() == {}
    assert ExplanationConfig.from_api({"treeShapAttribution": {}}).to_api() == {"treeShapAttribution": {}}
    gradients = ExplanationConfig.from_api({"integratedGradientsAttribution": {"numIntegralSteps": 50}})
    assert gradients.to_api() == {"integratedGradientsAttribution": {"numIntegralSteps": 50}}
    assert ExplanationConfig.from_api({"xraiAttribution": {}}).method == "xrai"


def test_each_model_gets_its_default_method() -> None:
    linear = EstimatorPredictor(LinearRegression().fit(X, Y))
    forest = EstimatorPredictor(RandomForestRegressor(n_estimators=5, random_state=0).fit(X, Y))
    in_pipeline = EstimatorPredictor(
        make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=5)).fit(X, Y)
    )
    assert method_for(linear, ExplanationConfig()) == "sampled-shapley"
    assert method_for(forest, ExplanationConfig()) == "tree-shap"
    # A pipeline's trees see scaled features, not the user's: sampled Shapley explains those.
    assert method_for(in_pipeline, ExplanationConfig()) == "sampled-shapley"
    assert method_for(forest, ExplanationConfig("sampled-shapley")) == "sampled-shapley"
    with pytest.raises(FailedPrecondition, match="treeShapAttribution explains tree ensembles"):
        method_for(linear, ExplanationConfig("tree-shap"))
    with pytest.raises(FailedPrecondition, match="integratedGradientsAttribution explains Keras"):
        method_for(forest, ExplanationConfig("integrated-gradients"))
    with pytest.raises(FailedPrecondition, match="xraiAttribution explains Keras models that take images"):
        method_for(forest, ExplanationConfig("xrai"))


def test_tree_shap_of_a_forest_classifier_matches_shaps_tree_explainer() -> None:
    shap = pytest.importorskip("shap")
    labels = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 3] > 1).astype(int)  # three classes
    model = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0).fit(X, labels)
    answer = explain_instances(EstimatorPredictor(model), X[:6].tolist(), ExplanationConfig())
    assert answer["method"] == "treeShapAttribution" and answer["modelCalls"] == 1
    assert answer["explainedScore"] == "probability"
    assert "training data" in answer["baseline"]["source"]
    reference = shap.TreeExplainer(model)
    expected_values = np.asarray(reference.shap_values(X[:6]))  # (instances, features, classes)
    for i in range(6):
        got = attributions(answer, i)
        probabilities = model.predict_proba(X[i : i + 1])[0]
        label = int(np.argmax(probabilities))
        assert got["label_index"] == label and got["approx_error"] == 0
        # Exact completeness: the forest's probability minus its mean over the training data.
        assert got["example_score"] == pytest.approx(probabilities[label], abs=1e-9)
        total = sum(got["attributions"].values())
        assert total == pytest.approx(got["example_score"] - got["baseline_score"], abs=1e-9)
        want = expected_values[i, :, label]
        assert np.allclose([got["attributions"][str(j)] for j in range(4)], want, atol=1e-9)


def test_tree_shap_against_a_baseline_is_the_exact_shapley_value() -> None:
    shap = pytest.importorskip("shap")
    model = RandomForestRegressor(n_estimators=20, max_depth=5, random_state=0).fit(X, X[:, 0] * X[:, 1] + Y)
    baseline = X.mean(axis=0)
    exact = shap.explainers.Exact(model.predict, baseline[None, :])(X[:5]).values
    config = ExplanationConfig(baseline=baseline.tolist())
    answer = explain_instances(EstimatorPredictor(model), X[:5].tolist(), config)
    assert answer["method"] == "treeShapAttribution"
    assert answer["baseline"]["source"] == "the version's explanationConfig.baseline"
    for i in range(5):
        got = attributions(answer, i)
        assert np.allclose([got["attributions"][str(j)] for j in range(4)], exact[i], atol=1e-9)
        assert got["baseline_score"] == pytest.approx(model.predict(baseline[None, :])[0])


def test_xgboost_trees_are_explained_with_its_own_contributions() -> None:
    xgb = pytest.importorskip("xgboost")
    shap = pytest.importorskip("shap")
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=(Y > 0).astype(int)), 20
    )
    predictor = BoosterPredictor(booster)
    answer = explain_instances(predictor, X[:5].tolist(), ExplanationConfig())
    assert answer["method"] == "treeShapAttribution"
    assert answer["explainedScore"].startswith("log-odds")
    margins = booster.predict(xgb.DMatrix(X[:5]), output_margin=True)
    independent = shap.TreeExplainer(booster).shap_values(X[:5])
    for i in range(5):
        got = attributions(answer, i)
        assert got["example_score"] == pytest.approx(float(margins[i]), abs=1e-4)
        total = sum(got["attributions"].values())
        assert total == pytest.approx(got["example_score"] - got["baseline_score"], abs=1e-4)
        assert np.allclose([got["attributions"][str(j)] for j in range(4)], independent[i], atol=1e-4)


def test_a_custom_routines_own_explain_answers() -> None:
    class Routine:
        def predict(self, instances: Any, **kwargs: Any) -> list[float]:
            return [sum(i) for i in instances]

        def explain(self, instances: Any) -> list[dict[str, float]]:
            return [{f"f{j}": float(v) for j, v in enumerate(i)} for i in instances]

    answer = explain_instances(Routine(), [[1.0, 2.0], [3.0, 4.0]], ExplanationConfig())
    assert answer["method"] == "custom"
    assert attributions(answer, 1)["attributions"] == {"f0": 3.0, "f1": 4.0}
    # A config that names a method wins: sampled Shapley over its predict.
    named = explain_instances(Routine(), [[1.0, 2.0]], ExplanationConfig("sampled-shapley"))
    assert attributions(named)["attributions"] == {"0": 1.0, "1": 2.0}

    class Wrong(Routine):
        def explain(self, instances: Any) -> list[dict[str, float]]:
            return []

    with pytest.raises(FailedPrecondition, match="must return a list of 1 explanations"):
        explain_instances(Wrong(), [[1.0, 2.0]], ExplanationConfig())
