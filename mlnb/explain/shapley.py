"""Sampled Shapley attribution over any predictor, in the user's terms.

For each instance, ``num_paths`` random orders of the features are walked
from the baseline to the instance, switching one feature at a time; a
feature's attribution is the mean change of the explained score when it
switches. Every path telescopes to ``f(x) - f(baseline)``, so the
attributions of an instance sum to ``example_score - baseline_score``
exactly; ``approx_error`` is the sampling error of the estimate (the
standard error of the attributions together, relative to their total
size): 0 when every order gives the same answer, as for an additive model.

All rows of a request (the baseline once, each instance once, and the
features - 1 rows inside each path of each instance) are predicted in a
few model calls (``MAX_ROWS_PER_CALL`` rows each, ``attribution.py``), never one call per
step. The rows are built in the instances' own shape (lists stay lists,
named inputs stay objects), so a pipeline's preprocessing runs as it does
for a prediction and the features are the ones the user sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlnb.explain.attribution import (
    Attribution,
    AttributionRun,
    ScoreFunction,
    in_calls,
    relative_error,
    top_label,
)
from mlnb.explain.features import FeatureTable

__all__ = ["sampled_shapley"]


def sampled_shapley(
    table: FeatureTable, baseline: Sequence[Any], score: ScoreFunction, num_paths: int, seed: int = 0
) -> AttributionRun:
    """Attribute each instance's top score (the predicted label's, for a
    model with several outputs) to its features."""
    n, d = table.values.shape
    rng = np.random.default_rng(seed)
    # rank[p, j]: the step of path p at which feature j takes the instance's value.
    rank = np.stack([rng.permutation(d) for _ in range(num_paths)])
    # The rows inside each path (after 1 to d-1 steps); its two ends, all
    # baseline and all instance, are scored once: the baseline once a
    # request, each instance once.
    steps_inside = max(d - 1, 0)
    inside = rank[:, None, :] < np.arange(1, d)[None, :, None]  # (paths, d-1, d)
    values = table.numbers()
    base: np.ndarray | None = None
    if values is not None:
        try:
            base = np.asarray(list(baseline), dtype=float)
        except (TypeError, ValueError):
            values = None  # a baseline that is not numbers: rows as objects
    if values is None or base is None:
        values, base = table.values, np.asarray(list(baseline), dtype=object)
    grid = np.where(inside[None], values[:, None, None, :], base[None, None, None, :])
    table_rows = np.concatenate([base[None, :], values, grid.reshape(n * num_paths * steps_inside, d)])
    # Lists of numbers go to the model as one 2-D array (building 20,000
    # lists cost more than the model); other instances row by row in their shape.
    rows: Any = table_rows if table_rows.dtype != object else [table.instance(list(r)) for r in table_rows]
    parts, calls = in_calls(score, rows)
    scored = np.concatenate(parts, axis=0)
    at_baseline, examples = scored[0], scored[1 : n + 1]
    outputs = scored.shape[1]
    paths = np.concatenate(
        [
            np.broadcast_to(at_baseline, (n, num_paths, 1, outputs)),
            scored[n + 1 :].reshape(n, num_paths, steps_inside, outputs),
            np.broadcast_to(examples[:, None, None, :], (n, num_paths, 1, outputs)),
        ],
        axis=2,
    )  # (instances, paths, d+1 steps, outputs)
    results = []
    for i in range(n):
        example = examples[i]
        label = top_label(example)
        steps = np.diff(paths[i, :, :, label], axis=1)  # (paths, d): the change at each step
        contributions = np.take_along_axis(steps, rank, axis=1)  # (paths, d): each feature's
        mean = contributions.mean(axis=0)
        spread = contributions.std(axis=0, ddof=1) if num_paths > 1 else np.zeros(d)
        error = float(np.sqrt(np.sum((spread / np.sqrt(num_paths)) ** 2)))
        results.append(
            Attribution(
                label_index=label,
                example_score=float(example[label]),
                baseline_score=float(at_baseline[label]),
                approx_error=relative_error(error, mean),
                attributions={name: float(v) for name, v in zip(table.names, mean, strict=True)},
            )
        )
    return AttributionRun(results, calls)
