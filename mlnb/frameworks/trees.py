"""Exact attributions of tree ensembles (TreeSHAP): XGBoost's own
``pred_contribs``, and ``shap``'s tree explainer for scikit-learn's trees
and forests and for any tree model against a given baseline.

Without a baseline, TreeSHAP is path-dependent: a feature's absence is
averaged over the training data as the trees recorded it (each node's
cover), and the expected score is the model's mean output. With baseline
rows it is interventional: exact Shapley values against those rows, the
same game sampled Shapley plays, so the two methods agree.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlnb.frameworks.base import Contributions, import_extra

__all__ = ["TreeAttributor", "is_tree_model"]

# scikit-learn's modules whose estimators are trees or ensembles of trees
# that shap's tree explainer reads.
_SKLEARN_TREE_MODULES = (
    "sklearn.tree.",
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
    "sklearn.ensemble._hist_gradient_boosting.",
)


def _is_xgboost(model: Any) -> bool:
    return type(model).__module__.startswith("xgboost.")


def _booster(model: Any) -> Any:
    """An XGBoost model's Booster (a scikit-learn-API model holds one)."""
    return model.get_booster() if hasattr(model, "get_booster") else model


def _learner(model: Any, part: str) -> str:
    """The name of a part of an XGBoost model's learner (``gradient_booster``,
    ``objective``), from its configuration; empty when it has none."""
    try:
        return str(json.loads(_booster(model).save_config())["learner"][part]["name"])
    except (KeyError, ValueError):
        return ""


def is_tree_model(model: Any) -> bool:
    """Whether ``model`` itself is a tree ensemble TreeSHAP explains (a
    pipeline is not: its trees see transformed features, not the user's)."""
    if _is_xgboost(model):
        return _learner(model, "gradient_booster") in ("gbtree", "dart")
    return (type(model).__module__ + ".").startswith(_SKLEARN_TREE_MODULES)


class TreeAttributor:
    """TreeSHAP for one loaded model; shap's explainers are built once a
    model (and baseline) and kept, as building one reads every tree."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._explainers: dict[str, Any] = {}
        self._score_name = self._score()  # read once: XGBoost writes its whole config to say it

    def contributions(self, features: Any, background: Any | None) -> Contributions:
        """TreeSHAP values of ``features`` (the model's own input: an array
        or a DataFrame), against ``background`` rows when given."""
        if _is_xgboost(self.model) and background is None:
            return self._xgboost_contributions(features)
        explainer = self._explainer(background)
        values = np.asarray(explainer.shap_values(features, check_additivity=False), dtype=float)
        # One output: (instances, features); several: (instances, features, outputs).
        values = values[:, None, :] if values.ndim == 2 else values.transpose(0, 2, 1)
        expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)).reshape(-1)
        return Contributions(values, expected, self._score_name)

    def _xgboost_contributions(self, features: Any) -> Contributions:
        xgb = import_extra("xgboost", "xgboost", "An XGBoost model")
        raw = np.asarray(_booster(self.model).predict(xgb.DMatrix(features), pred_contribs=True), dtype=float)
        if raw.ndim == 2:  # one output: (instances, features + bias)
            raw = raw[:, None, :]
        # The last column is the bias: the mean margin, the same for every row.
        return Contributions(raw[:, :, :-1], raw[0, :, -1].copy(), self._score_name)

    def _explainer(self, background: Any | None) -> Any:
        # Keyed by the baseline's values (an object array's bytes would be
        # its values' addresses, new in every request).
        key = "" if background is None else repr(np.asarray(background, dtype=object).tolist())
        explainer = self._explainers.get(key)
        if explainer is None:
            shap = import_extra("shap", "explain", "TreeSHAP for a scikit-learn tree model")
            if background is None:
                explainer = shap.TreeExplainer(self.model)
            else:
                explainer = shap.TreeExplainer(
                    self.model, data=background, feature_perturbation="interventional"
                )
            self._explainers = {key: explainer}  # one baseline a version: keep the last
        return explainer

    def _score(self) -> str:
        """What the model's raw outputs, which TreeSHAP attributes, are."""
        if _is_xgboost(self.model):
            if _learner(self.model, "objective").startswith(("binary:", "multi:")):
                return "log-odds (XGBoost's margin)"
            return "margin (XGBoost's raw prediction)"
        if not hasattr(self.model, "classes_"):
            return "prediction"
        module = type(self.model).__module__
        # Forests and single trees vote with probabilities; boosting adds log-odds.
        if module.startswith(("sklearn.tree.", "sklearn.ensemble._forest")):
            return "probability"
        return "log-odds"
