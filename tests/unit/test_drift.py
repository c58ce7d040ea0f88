"""Profiles and drift on made-up data: the same distribution gives a PSI
near zero, a moved one a large PSI and KS, categories a chi-squared test;
lists, named inputs and missing values read alike."""

from __future__ import annotations

import numpy as np
import pytest

from mlnb.monitoring import drift, profile
from mlnb.monitoring.profile import columns_of


def test_the_same_distribution_does_not_drift_and_a_moved_one_does() -> None:
    rng = np.random.default_rng(0)
    base = profile(rng.normal(size=(5000, 2)).tolist(), ["x", "y"])
    same = drift(base, rng.normal(size=(2000, 2)).tolist(), ["x", "y"])
    assert (
        same["drifted"] == [] and same["features"]["x"]["psi"] < 0.02 and same["features"]["x"]["ks"] < 0.05
    )
    moved = rng.normal(size=(2000, 2))
    moved[:, 1] += 1.0
    answer = drift(base, moved.tolist(), ["x", "y"])
    assert answer["drifted"] == ["y"]
    assert answer["features"]["y"]["psi"] > 0.5 and answer["features"]["y"]["ks"] > 0.3
    assert sum(answer["features"]["y"]["fractions"]) == pytest.approx(1.0)


def test_categories_take_a_chi_squared_test() -> None:
    base = profile([{"colour": c} for c in ["red"] * 700 + ["blue"] * 300])
    assert base["features"]["colour"]["top"] == {"red": 0.7, "blue": 0.3}
    alike = drift(base, [{"colour": c} for c in ["red"] * 70 + ["blue"] * 30])
    assert alike["features"]["colour"]["pValue"] > 0.5 and not alike["drifted"]
    flipped = drift(base, [{"colour": c} for c in ["red"] * 20 + ["blue"] * 60 + ["green"] * 20])
    assert flipped["drifted"] == ["colour"] and flipped["features"]["colour"]["pValue"] < 1e-6
    # Green was never seen: it counts as "other".
    assert flipped["features"]["colour"]["fractions"] == [0.2, 0.6, 0.2]


def test_missing_values_are_counted_not_measured() -> None:
    columns = columns_of([[1.0, None], [2.0, 3.0], [None, 4.0]])
    assert np.isnan(columns["0"][2]) and np.isnan(columns["1"][0])
    described = profile([[1.5, None], [2.5, 3.5], [None, 4.5]])
    assert described["features"]["0"]["missing"] == 1 and described["features"]["0"]["count"] == 3
    mixed = profile([["a", 1.5], ["b", None]])  # strings: value by value
    assert mixed["features"]["0"]["kind"] == "category" and mixed["features"]["1"]["missing"] == 1
    absent = drift(profile([{"a": 1.5}, {"a": 2.5}]), [{"b": 1}])
    assert absent["features"]["a"]["absent"] is True
