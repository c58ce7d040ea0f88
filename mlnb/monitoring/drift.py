"""Drift: how far served instances (or another labelled set: skew) have
moved from a baseline profile, feature by feature, in the baseline's own
bins: the population stability index, and a Kolmogorov-Smirnov statistic
(the largest gap between the two binned distribution functions) for
numbers or a chi-squared test for categories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlnb.monitoring.profile import _category, _is_number, columns_of, present_values

__all__ = ["DEFAULT_PSI_THRESHOLD", "drift"]

# PSI above 0.2 is the usual reading of "the population has shifted".
DEFAULT_PSI_THRESHOLD = 0.2
_SMOOTHING = 1e-4


def drift(
    baseline: Mapping[str, Any],
    instances: Sequence[Any],
    names: Sequence[str] | None = None,
    threshold: float = DEFAULT_PSI_THRESHOLD,
) -> dict[str, Any]:
    """Per feature of the baseline: the served fractions in its bins, the
    PSI, KS or chi-squared, and whether the PSI crosses ``threshold``."""
    columns = columns_of(instances, names)
    features = {}
    for name, expected in baseline.get("features", {}).items():
        values = columns.get(name)
        if values is None:
            features[name] = {"kind": expected.get("kind"), "count": 0, "absent": True}
            continue
        features[name] = _feature(expected, values, threshold)
    drifted = sorted(n for n, f in features.items() if f.get("drifted"))
    return {"rows": len(instances), "threshold": threshold, "drifted": drifted, "features": features}


def _feature(expected: Mapping[str, Any], values: Any, threshold: float) -> dict[str, Any]:
    present, missing = present_values(values)
    body: dict[str, Any] = {"kind": expected["kind"], "count": len(values), "missing": missing}
    if not len(present):
        return body
    if expected["kind"] == "number":
        if isinstance(present, np.ndarray):
            numbers = present
        else:
            numbers = np.asarray([float(v) for v in present if _is_number(v)])
        edges = np.concatenate([[-np.inf], np.asarray(expected["edges"], dtype=float), [np.inf]])
        served = np.histogram(numbers, bins=edges)[0] / max(len(numbers), 1)
        base = np.asarray(expected["fractions"], dtype=float)
        body["ks"] = float(np.abs(np.cumsum(served) - np.cumsum(base)).max())
        body["mean"] = float(numbers.mean()) if len(numbers) else None
    else:
        categories = list(expected["top"])
        counted = {c: 0 for c in categories}
        other = 0
        for value in present.tolist() if isinstance(present, np.ndarray) else present:
            key = _category(value)
            if key in counted:
                counted[key] += 1
            else:
                other += 1
        served = np.asarray([*counted.values(), other], dtype=float) / len(present)
        base = np.asarray([*expected["top"].values(), expected.get("other", 0.0)], dtype=float)
        body |= _chi_squared(served * len(present), base)
    body["psi"] = _psi(base, served)
    body["drifted"] = body["psi"] > threshold
    body["fractions"] = served.tolist()
    return body


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.clip(expected, _SMOOTHING, None)
    a = np.clip(actual, _SMOOTHING, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _chi_squared(observed: np.ndarray, expected_fractions: np.ndarray) -> dict[str, float]:
    from scipy import stats

    expected = np.clip(expected_fractions, _SMOOTHING, None)
    expected = expected / expected.sum() * observed.sum()
    statistic, p_value = stats.chisquare(observed, expected)
    return {"chi2": float(statistic), "pValue": float(p_value)}
