"""TreeSHAP: exact Shapley values of a tree ensemble's raw output, computed
by the framework (XGBoost's ``pred_contribs``, ``shap``'s tree explainer)
in one pass over the trees. The attributions sum to the example's score
minus the expected score exactly: ``approx_error`` is 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlnb.errors import FailedPrecondition
from mlnb.explain.attribution import Attribution, AttributionRun, top_label
from mlnb.explain.features import FeatureTable
from mlnb.frameworks import Contributions

__all__ = ["attributions_of"]


def attributions_of(table: FeatureTable, contributions: Contributions) -> AttributionRun:
    """One attribution an instance, of its top output, from the model's
    contributions in the table's feature order.

    Raises:
        FailedPrecondition: The trees see another number of features than
            the instances hold.
    """
    values, expected = contributions.values, contributions.expected
    if values.shape[2] != len(table.names):
        raise FailedPrecondition(
            f"The model's trees read {values.shape[2]} features; the instances have {len(table.names)}"
        )
    scores = expected[None, :] + values.sum(axis=2)  # (instances, outputs)
    results = []
    for i in range(values.shape[0]):
        label = top_label(scores[i])
        results.append(
            Attribution(
                label_index=label,
                example_score=float(scores[i, label]),
                baseline_score=float(expected[label]),
                approx_error=0.0,
                attributions=dict(zip(table.names, values[i, label].tolist(), strict=True)),
            )
        )
    return AttributionRun(results, 1)


def background_of(table: FeatureTable, baseline: Sequence[Any] | None) -> list[Any] | None:
    """The baseline as the one background row TreeSHAP plays against."""
    return None if baseline is None else [table.instance(list(baseline))]
