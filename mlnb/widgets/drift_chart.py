"""The charts of a drift measurement: each feature's PSI against the
threshold, and for each feature that drifted its served distribution
beside the baseline's, bin by bin."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

__all__ = ["drift_figures", "show_drift"]

_LAYOUT = {"height": 340, "margin": {"t": 50, "b": 40, "l": 50, "r": 10}}


def drift_figures(answer: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> list[Any]:
    """A PSI bar chart, then a served-against-baseline chart a drifted
    feature (when the baseline's profile is given)."""
    import plotly.graph_objects as go

    features = {n: f for n, f in answer["features"].items() if "psi" in f}
    threshold = answer["threshold"]
    bars = go.Figure(
        go.Bar(
            x=list(features),
            y=[f["psi"] for f in features.values()],
            marker={"color": ["#d62728" if f.get("drifted") else "#1f77b4" for f in features.values()]},
            hovertemplate="%{x}: PSI %{y:.3g}<extra></extra>",
        )
    )
    bars.add_hline(
        y=threshold, line={"dash": "dot", "color": "grey"}, annotation_text=f"threshold {threshold}"
    )
    title = "Drift" if answer.get("kind") == "drift" else "Skew"
    bars.update_layout(
        title={"text": f"{title} of version {answer['version']} by feature (PSI)"},
        yaxis_title="PSI",
        **_LAYOUT,
    )
    figures = [bars]
    for name in answer.get("drifted", []):
        expected = (baseline or {}).get("features", {}).get(name)
        if expected is None:
            continue
        served = features[name]["fractions"]
        labels = _bin_labels(expected)
        figure = go.Figure(
            [
                go.Bar(
                    x=labels,
                    y=expected.get("fractions") or [*expected["top"].values(), expected["other"]],
                    name="baseline",
                ),
                go.Bar(x=labels, y=served, name="served"),
            ]
        )
        figure.update_layout(
            title={"text": f"{name}: served against the baseline"},
            barmode="group",
            yaxis_title="share",
            **_LAYOUT,
        )
        figures.append(figure)
    return figures


def _bin_labels(expected: Mapping[str, Any]) -> list[str]:
    if expected["kind"] == "number":
        edges = [f"{e:.3g}" for e in expected["edges"]]
        return [
            f"< {edges[0]}" if edges else "all",
            *(f"{a}..{b}" for a, b in pairwise(edges)),
            *([f">= {edges[-1]}"] if edges else []),
        ]
    return [*expected["top"], "other"]


def show_drift(answer: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> None:
    """Display the figures in the notebook as plotly's own mime bundles."""
    import plotly.io as pio
    from IPython.display import display

    from mlnb.widgets.charts import figure_bundle

    for figure in drift_figures(answer, baseline):
        display(figure_bundle(pio.to_json(figure, validate=False)), raw=True)  # type: ignore[no-untyped-call]
