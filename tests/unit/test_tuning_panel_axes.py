"""The tuning panel's parallel coordinates, from a trials table as the
Engine gives it (ML Engine writes hyperparameters as strings)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlnb.widgets.tuning_panel import _parallel_coordinates, _short

PARAMS = [
    {"parameterName": "units", "type": "DISCRETE", "discreteValues": [20, 50, 100]},
    {"parameterName": "lr", "type": "DOUBLE", "minValue": 1e-4, "maxValue": 1, "scaleType": "UNIT_LOG_SCALE"},
    {"parameterName": "kind", "type": "CATEGORICAL", "categoricalValues": ["b", "a"]},
]


def trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trialId": ["1", "2", "3"],
            "objectiveValue": [0.02735857664807793, 0.5, None],
            "units": ["100", "20", "50"],
            "lr": ["0.001", "0.1", "0.01"],
            "kind": ["b", "a", "b"],
        }
    )


def test_numbers_are_numeric_axes_log_scales_log_axes_and_categories_ticks() -> None:
    dimensions = {d["label"]: d for d in _parallel_coordinates(trials(), PARAMS)["dimensions"]}
    assert list(dimensions) == ["units", "lr (log)", "kind", "metric"]
    assert dimensions["units"]["values"] == [100.0, 20.0]  # numbers, not text sorted as "100" < "20"
    assert dimensions["units"]["tickformat"] == ".4g"
    assert dimensions["lr (log)"]["values"] == pytest.approx([math.log10(0.001), math.log10(0.1)])
    assert dimensions["lr (log)"]["ticktext"] == ["0.001", "0.1"]
    assert dimensions["kind"]["ticktext"] == ["a", "b"] and dimensions["kind"]["values"] == [1, 0]
    assert dimensions["metric"]["tickformat"] == ".4g"


def test_values_are_shown_in_four_significant_figures() -> None:
    assert _short("0.02735857664807793") == "0.02736" and _short("balanced") == "balanced"
    assert _short(True) == "True" and _short(None) == "None"
