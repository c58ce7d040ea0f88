"""Sampled Shapley attribution over any predictor, in the user's terms.

For each instance, ``num_paths`` random orders of the features are walked
from the baseline to the instance, switching one feature at a time; a
feature's attribution is the mean change of the explained score when it
switches. Every path telescopes to ``f(x) - f(baseline)``, so the
attributions of an instance sum to ``example_score - baseline_score``
exactly; ``approx_error`` is the sampling error of the estimate (the
standard error of the attributions together, relative to their total
size): 0 when every order gives the same answer, as for an additive model.

All rows of a request (instances x paths x (features + 1)) are predicted
in a few model calls (``MAX_ROWS_PER_CALL`` rows each), never one call per
step. The rows are built in the instances' own shape (lists stay lists,
named inputs stay objects), so a pipeline's preprocessing runs as it does
for a prediction and the features are the ones the user sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlnb.explain.features import FeatureTable

__all__ = ["MAX_ROWS_PER_CALL", "Attribution", "sampled_shapley"]

MAX_ROWS_PER_CALL = 20_000

# Scores of rows: (rows, outputs) numbers.
ScoreFunction = Callable[[list[Any]], np.ndarray]


@dataclass(frozen=True)
class Attribution:
    """One instance's explanation of one output (label)."""

    label_index: int
    example_score: float
    baseline_score: float
    approx_error: float
    attributions: dict[str, float]

    def to_api(self) -> dict[str, Any]:
        return {
            "label_index": self.label_index,
            "example_score": self.example_score,
            "baseline_score": self.baseline_score,
            "approx_error": self.approx_error,
            "attributions": self.attributions,
        }


@dataclass(frozen=True)
class ShapleyRun:
    """The attributions of a request and what they cost."""

    attributions: list[Attribution]
    model_calls: int
    rows: int


def sampled_shapley(
    table: FeatureTable, baseline: Sequence[Any], score: ScoreFunction, num_paths: int, seed: int = 0
) -> ShapleyRun:
    """Attribute each instance's top score (the predicted label's, for a
    model with several outputs) to its features."""
    n, d = table.values.shape
    rng = np.random.default_rng(seed)
    orders = np.stack([rng.permutation(d) for _ in range(num_paths)]) if d else np.zeros((num_paths, 0), int)
    # switched[p, k, j]: after k steps of path p, feature j has the instance's value.
    switched = np.zeros((num_paths, d + 1, d), dtype=bool)
    for p in range(num_paths):
        for k in range(1, d + 1):
            switched[p, k] = switched[p, k - 1]
            switched[p, k, orders[p, k - 1]] = True
    base = np.asarray(list(baseline), dtype=object)
    grid = np.where(switched[None], table.values[:, None, None, :], base[None, None, None, :])
    flat = grid.reshape(n * num_paths * (d + 1), d)
    rows = [table.instance(list(row)) for row in flat]
    scores, calls = _scores_in_calls(score, rows)
    scores = scores.reshape(n, num_paths, d + 1, -1)
    results = []
    for i in range(n):
        # The path ends (all baseline, all instance) are the same on every path.
        example, at_baseline = scores[i, 0, d], scores[i, 0, 0]
        label = int(np.argmax(example)) if example.shape[0] > 1 else 0
        steps = np.diff(scores[i, :, :, label], axis=1)  # (paths, d): the change at each step
        contributions = np.zeros((num_paths, d))
        for p in range(num_paths):
            contributions[p, orders[p]] = steps[p]
        mean = contributions.mean(axis=0)
        spread = contributions.std(axis=0, ddof=1) if num_paths > 1 else np.zeros(d)
        size = float(np.abs(mean).sum())
        error = float(np.sqrt(np.sum((spread / np.sqrt(num_paths)) ** 2)))
        results.append(
            Attribution(
                label_index=label,
                example_score=float(example[label]),
                baseline_score=float(at_baseline[label]),
                approx_error=error / size if size > 1e-12 else error,
                attributions={name: float(v) for name, v in zip(table.names, mean, strict=True)},
            )
        )
    return ShapleyRun(results, calls, len(rows))


def _scores_in_calls(score: ScoreFunction, rows: list[Any]) -> tuple[np.ndarray, int]:
    parts = [
        score(rows[start : start + MAX_ROWS_PER_CALL]) for start in range(0, len(rows), MAX_ROWS_PER_CALL)
    ]
    return np.concatenate(parts, axis=0), len(parts)
