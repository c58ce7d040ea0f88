"""Explanations: which features made a prediction, attributed with the
method of a version's ``explanationConfig`` (sampled Shapley today), in the
shape of ML Engine's ``projects.explain`` answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlnb.errors import FailedPrecondition, InvalidArgument, MlnbError
from mlnb.explain.config import METHODS, ExplanationConfig
from mlnb.explain.features import Baseline, FeatureTable
from mlnb.explain.shapley import ScoreFunction, sampled_shapley
from mlnb.frameworks import Predictor, Scorer

__all__ = ["METHODS", "ExplanationConfig", "explain_instances"]


def explain_instances(
    predictor: Predictor,
    instances: Sequence[Any],
    config: ExplanationConfig,
    feature_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``{"explanations": [{"attributions_by_label": [...]}, ...], ...}``,
    one explanation per instance, with the method, the baseline and the
    number of model calls it took. List instances are named by the model's
    own feature names, else by ``feature_names``, else by position.

    Raises:
        InvalidArgument: Instances of mixed shapes, or a method not served.
        FailedPrecondition: The model's outputs are not numbers.
    """
    config.check_served()
    known = predictor.feature_names() if isinstance(predictor, Scorer) else None
    table = FeatureTable.of(instances, [known, feature_names])
    baseline = Baseline.for_table(table, config.baseline)
    run = sampled_shapley(table, baseline.values, _score_function(predictor), config.num_paths)
    return {
        "explanations": [{"attributions_by_label": [a.to_api()]} for a in run.attributions],
        "method": METHODS[config.method],
        "numPaths": config.num_paths,
        "baseline": baseline.to_api(table.names),
        "modelCalls": run.model_calls,
    }


def _score_function(predictor: Predictor) -> ScoreFunction:
    def score(rows: list[Any]) -> np.ndarray:
        try:
            raw = predictor.scores(rows) if isinstance(predictor, Scorer) else predictor.predict(rows)
        except MlnbError:
            raise
        except Exception as e:  # the model's own code
            raise InvalidArgument(
                f"The model could not score these instances: {type(e).__name__}: {e}"
            ) from e
        try:
            values = np.asarray(raw, dtype=float)
        except (TypeError, ValueError) as e:
            raise FailedPrecondition(
                "The model's predictions are not numbers, so there is no score to attribute "
                "(a classifier without probabilities answers with labels)"
            ) from e
        return values.reshape(len(rows), -1)

    return score
