"""Explanations: which features made a prediction, attributed with the
method of a version's ``explanationConfig`` or, where it names none, the
model's own default (TreeSHAP for tree ensembles, integrated gradients for
Keras models, a custom routine's ``explain``, sampled Shapley for the
rest), in the shape of ML Engine's ``projects.explain`` answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Number
from typing import Any, TypeGuard

import numpy as np

from mlnb.errors import FailedPrecondition, InvalidArgument, MlnbError
from mlnb.explain.attribution import AttributionRun, ScoreFunction
from mlnb.explain.config import CUSTOM, METHODS, ExplanationConfig
from mlnb.explain.features import Baseline, FeatureTable
from mlnb.explain.gradients import GradientFunction, integrated_gradients
from mlnb.explain.images import explain_images
from mlnb.explain.shapley import sampled_shapley
from mlnb.explain.tree_shap import attributions_of, background_of
from mlnb.frameworks import Differentiable, Predictor, Scorer, TreeEnsemble

__all__ = ["METHODS", "ExplanationConfig", "explain_instances", "method_for"]

# What is explained, by method, in the answer's ``explainedScore``.
_SCORES = "the model's scores: a classifier's class probabilities, else its predictions"


def method_for(predictor: Predictor, config: ExplanationConfig) -> str:
    """The method that explains ``predictor``: the config's, else the model's default.

    Raises:
        FailedPrecondition: The config names a method the model cannot take.
    """
    trees = isinstance(predictor, TreeEnsemble) and predictor.is_tree_ensemble()
    gradients = isinstance(predictor, Differentiable) and predictor.is_differentiable()
    images = _takes_images(predictor)
    if config.method == "tree-shap" and not trees:
        raise FailedPrecondition(
            "treeShapAttribution explains tree ensembles (XGBoost, scikit-learn trees, forests and "
            "gradient boosting, not inside a pipeline); use sampledShapleyAttribution for this model"
        )
    if config.method == "integrated-gradients" and not gradients:
        raise FailedPrecondition(
            "integratedGradientsAttribution explains Keras models of one input of numbers and one "
            "output; use sampledShapleyAttribution for this model"
        )
    if config.method == "xrai" and not images:
        raise FailedPrecondition(
            "xraiAttribution explains Keras models that take images (one input of height, width and "
            "channels); use integratedGradientsAttribution or sampledShapleyAttribution for this model"
        )
    if config.method is not None:
        return config.method
    if callable(getattr(predictor, "explain", None)):
        return CUSTOM
    if trees:
        return "tree-shap"
    if gradients:
        return "xrai" if images else "integrated-gradients"
    return "sampled-shapley"


def explain_instances(
    predictor: Predictor,
    instances: Sequence[Any],
    config: ExplanationConfig,
    feature_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``{"explanations": [{"attributions_by_label": [...]}, ...], ...}``,
    one explanation per instance, with the method, what score it explains,
    the baseline and the number of model calls it took. List instances are
    named by the model's own feature names, else by ``feature_names``, else
    by position.

    Raises:
        InvalidArgument: Instances of mixed shapes.
        FailedPrecondition: The model's outputs are not numbers, or the
            method does not fit the model.
    """
    method = method_for(predictor, config)
    if method == CUSTOM:
        return _custom_explanations(predictor, instances)
    if method in ("integrated-gradients", "xrai") and _takes_images(predictor):
        return _image_explanations(predictor, instances, config, method)
    known = predictor.feature_names() if isinstance(predictor, Scorer) else None
    table = FeatureTable.of(instances, [known, feature_names])
    answer: dict[str, Any] = {"method": METHODS[method], **config.parameters(method)}
    if method == "tree-shap" and isinstance(predictor, TreeEnsemble):  # method_for checked it is
        given = Baseline.for_table(table, config.baseline) if config.baseline is not None else None
        background = background_of(table, given.values if given else None)
        contributions = _model_call(lambda: predictor.tree_contributions(instances, background))
        run = attributions_of(table, contributions)
        answer["explainedScore"] = contributions.score
        answer["baseline"] = (
            given.to_api(table.names)
            if given
            else {"source": "the trees' training data, as path-dependent TreeSHAP averages it"}
        )
    else:
        baseline = Baseline.for_table(table, config.baseline)
        run = _attributions(method, predictor, table, baseline, config)
        answer["explainedScore"] = _SCORES
        answer["baseline"] = baseline.to_api(table.names)
    return {
        "explanations": [{"attributions_by_label": [a.to_api()]} for a in run.attributions],
        **answer,
        "modelCalls": run.model_calls,
    }


def _takes_images(predictor: Predictor) -> TypeGuard[Differentiable]:
    """Whether the model is differentiable and takes an image (an input of
    two dimensions or more an instance)."""
    return (
        isinstance(predictor, Differentiable)
        and predictor.is_differentiable()
        and len(predictor.input_shape()) >= 2
    )


def _gradients_of(predictor: Differentiable) -> GradientFunction:
    """The model's gradient calls, its failures said as the caller's fault."""
    return lambda rows, labels: _model_call(lambda: predictor.gradients(rows, labels))


def _image_explanations(
    predictor: Differentiable, instances: Sequence[Any], config: ExplanationConfig, method: str
) -> dict[str, Any]:
    name = predictor.input_name()
    run = explain_images(
        instances,
        _gradients_of(predictor),
        config.num_integral_steps,
        name,
        xrai=method == "xrai",
        baseline=config.baseline,
    )
    what = "XRAI's region saliency" if method == "xrai" else "integrated gradients"
    return {
        "explanations": [{"attributions_by_label": [a.to_api()]} for a in run.attributions],
        "method": METHODS[method],
        **config.parameters(method),
        "explainedScore": _SCORES,
        "attributionShape": f"{name}: the image's height by width ({what}, summed over its channels)",
        "baseline": {"source": "the version's explanationConfig.baseline"}
        if config.baseline is not None
        else {"source": "a black image (zeros)"},
        "modelCalls": run.model_calls,
    }


def _attributions(
    method: str, predictor: Predictor, table: FeatureTable, baseline: Baseline, config: ExplanationConfig
) -> AttributionRun:
    if method == "integrated-gradients" and isinstance(predictor, Differentiable):  # method_for checked it is
        return integrated_gradients(
            table, baseline.values, _gradients_of(predictor), config.num_integral_steps
        )
    return sampled_shapley(table, baseline.values, _score_function(predictor), config.num_paths)


def _model_call(call: Any) -> Any:
    """Run the model's code, its failures said as the caller's fault."""
    try:
        return call()
    except MlnbError:
        raise
    except Exception as e:  # the model's own code
        raise InvalidArgument(f"The model could not score these instances: {type(e).__name__}: {e}") from e


def _score_function(predictor: Predictor) -> ScoreFunction:
    def score(rows: Any) -> np.ndarray:
        if isinstance(predictor, Scorer):
            raw = _model_call(lambda: predictor.scores(rows))
        else:  # a predictor of another kind gets what a prediction sends: lists
            sent = rows.tolist() if isinstance(rows, np.ndarray) else rows
            raw = _model_call(lambda: predictor.predict(sent))
        try:
            values = np.asarray(raw, dtype=float)
        except (TypeError, ValueError) as e:
            raise FailedPrecondition(
                "The model's predictions are not numbers, so there is no score to attribute "
                "(a classifier without probabilities answers with labels)"
            ) from e
        return values.reshape(len(rows), -1)

    return score


def _custom_explanations(predictor: Predictor, instances: Sequence[Any]) -> dict[str, Any]:
    """A custom prediction routine's own ``explain(instances)``: one
    explanation an instance, either ML Engine's ``{"attributions_by_label":
    [...]}`` or an object of feature attributions.

    Raises:
        FailedPrecondition: It answers with something else, or for another
            number of instances.
    """
    answer = _model_call(lambda: predictor.explain(list(instances)))  # type: ignore[attr-defined]
    if not isinstance(answer, Sequence) or isinstance(answer, str) or len(answer) != len(instances):
        raise FailedPrecondition(
            f"The prediction routine's explain() must return a list of {len(instances)} explanations, "
            "one an instance"
        )
    explanations = []
    for index, item in enumerate(answer):
        if isinstance(item, Mapping) and "attributions_by_label" in item:
            explanations.append(dict(item))
        elif isinstance(item, Mapping) and all(isinstance(v, Number) for v in item.values()):
            attributions = {str(k): float(v) for k, v in item.items()}
            explanations.append({"attributions_by_label": [{"attributions": attributions}]})
        else:
            raise FailedPrecondition(
                f"The prediction routine's explanation {index} is neither "
                '{"attributions_by_label": [...]} nor an object of feature attributions'
            )
    return {"explanations": explanations, "method": CUSTOM, "modelCalls": 1}
