"""The charts of an evaluation, as Datalab's ``%ml evaluate --plot`` drew
them, in plotly: for a classifier, its confusion matrix and its ROC and
precision-recall curves; for a regressor, its residuals against its
predictions. Several versions (a comparison) share the curves' axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["evaluation_figures", "show_evaluation"]

_LAYOUT = {"height": 380, "margin": {"t": 50, "b": 40, "l": 50, "r": 10}}


def evaluation_figures(evaluations: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The figures of one or more evaluations (their ``to_api()`` bodies) of the same task."""
    import plotly.graph_objects as go

    if not evaluations:
        return []
    if evaluations[0]["task"] == "regression":
        return [_residuals(go, evaluations)]
    figures = [_confusion(go, e) for e in evaluations]
    for key, x, y, title in (
        ("roc", "fpr", "tpr", "ROC curves"),
        ("precisionRecall", "recall", "precision", "Precision-recall curves"),
    ):
        if any(key in e["metrics"] for e in evaluations):
            figures.append(_curves(go, evaluations, key, x, y, title))
    return figures


def _confusion(go: Any, evaluation: Mapping[str, Any]) -> Any:
    matrix = evaluation["metrics"]["confusionMatrix"]
    labels = matrix["labels"]
    figure = go.Figure(
        go.Heatmap(
            z=matrix["matrix"],
            x=labels,
            y=labels,
            colorscale="Blues",
            text=matrix["matrix"],
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    accuracy = evaluation["metrics"].get("accuracy")
    title = f"Confusion matrix of {evaluation['version']}" + (
        f" (accuracy {accuracy:.3f})" if accuracy is not None else ""
    )
    figure.update_layout(
        title={"text": title},
        xaxis_title="predicted",
        yaxis={"title": "true", "autorange": "reversed"},
        **_LAYOUT,
    )
    return figure


def _curves(go: Any, evaluations: Sequence[Mapping[str, Any]], key: str, x: str, y: str, title: str) -> Any:
    figure = go.Figure()
    for evaluation in evaluations:
        for label, curve in evaluation["metrics"].get(key, {}).items():
            area = curve.get("auc", curve.get("averagePrecision"))
            name = f"{evaluation['version']}, class {label}" + (f" ({area:.3f})" if area is not None else "")
            figure.add_trace(go.Scatter(x=curve[x], y=curve[y], mode="lines", name=name))
    if key == "roc":
        figure.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance")
        )
    figure.update_layout(title={"text": title}, xaxis_title=x, yaxis_title=y, **_LAYOUT)
    return figure


def _residuals(go: Any, evaluations: Sequence[Mapping[str, Any]]) -> Any:
    figure = go.Figure()
    for evaluation in evaluations:
        residuals = evaluation["metrics"]["residuals"]
        rmse = evaluation["metrics"].get("rmse")
        figure.add_trace(
            go.Scatter(
                x=residuals["predicted"],
                y=residuals["residual"],
                mode="markers",
                marker={"size": 5, "opacity": 0.7},
                name=f"{evaluation['version']} (RMSE {rmse:.4g})"
                if rmse is not None
                else evaluation["version"],
            )
        )
    figure.add_hline(y=0, line={"dash": "dot", "color": "grey"})
    figure.update_layout(
        title={"text": "Residuals (true minus predicted)"},
        xaxis_title="predicted",
        yaxis_title="residual",
        **_LAYOUT,
    )
    return figure


def show_evaluation(evaluations: Sequence[Mapping[str, Any]]) -> None:
    """Display the figures in the notebook as plotly's own mime bundles."""
    import plotly.io as pio
    from IPython.display import display

    from mlnb.widgets.charts import figure_bundle

    for figure in evaluation_figures(evaluations):
        display(figure_bundle(pio.to_json(figure, validate=False)), raw=True)  # type: ignore[no-untyped-call]
