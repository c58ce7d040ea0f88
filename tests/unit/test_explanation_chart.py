"""The %ml explain chart: what its traces carry for one instance and for many."""

from __future__ import annotations

from typing import Any

import pytest

from mlnb.widgets.explanation_chart import MAX_FEATURES, explanation_figure

pytest.importorskip("plotly")


def answer_of(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "explanations": [
            {
                "attributions_by_label": [
                    {"label_index": 0, "example_score": 1.5, "baseline_score": 0.5, "attributions": row}
                ]
            }
            for row in rows
        ],
        "method": "sampledShapleyAttribution",
        "version": "v1",
    }


def test_one_instance_is_a_bar_an_attribution_the_largest_on_top() -> None:
    figure = explanation_figure(answer_of([{"a": 0.1, "b": -0.7, "c": 0.3}]))
    (bar,) = figure.data
    assert bar.type == "bar" and bar.orientation == "h"
    # plotly draws the last category on top: the largest |attribution| is last.
    assert list(bar.y) == ["a", "c", "b"] and list(bar.x) == [0.1, 0.3, -0.7]
    assert list(bar.marker.color) == ["#2ca02c", "#2ca02c", "#d62728"]
    assert figure.layout.title.text == (
        "Attributions (sampledShapley of version v1): score 1.5 against 0.5 at the baseline"
    )


def test_features_past_the_limit_are_summed_into_one_bar() -> None:
    row = {f"f{i}": float(i) for i in range(MAX_FEATURES + 5)}
    (bar,) = explanation_figure(answer_of([row])).data
    assert len(bar.y) == MAX_FEATURES + 1 and bar.y[0] == "5 other features"
    assert bar.x[0] == pytest.approx(sum(range(5)))


def test_many_instances_make_a_row_a_feature_coloured_by_its_values() -> None:
    rows = [{"a": 0.1 * i, "b": -1.0 * i} for i in range(4)]
    instances = [[i, 10 * i] for i in range(4)]
    figure = explanation_figure(answer_of(rows), instances)
    assert [trace.name for trace in figure.data] == ["a", "b"]  # bottom row first: b is on top
    a, b = figure.data
    assert list(b.x) == [0.0, -1.0, -2.0, -3.0] and list(b.marker.color) == [0, 10, 20, 30]
    assert list(a.marker.color) == [0, 1, 2, 3]
    assert list(figure.layout.yaxis.ticktext) == ["a", "b"]
    # Named instances colour by name; without instances the dots have no colour scale.
    named = explanation_figure(answer_of(rows), [{"a": i, "b": -i} for i in range(4)])
    assert list(named.data[1].marker.color) == [0, -1, -2, -3]
    assert explanation_figure(answer_of(rows)).data[0].marker.color is None


def test_an_image_answer_is_a_heatmap_of_the_first_image() -> None:
    image = [[0.0, 1.0], [-1.0, 0.5]]
    answer = answer_of([{"pixels": image}, {"pixels": image}])  # type: ignore[dict-item]
    (heatmap,) = explanation_figure(answer).data
    assert heatmap.type == "heatmap" and [list(row) for row in heatmap.z] == image
    assert "the first of 2 images" in explanation_figure(answer).layout.title.text
