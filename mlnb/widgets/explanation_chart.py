"""The chart of an explain answer, as Datalab's ``%ml explain`` drew one:
for one instance, a bar an attribution (the largest at the top, green
pushing the score up, red down); for several, a summary plot in the style
of shap's beeswarm: a row a feature (the most influential at the top), a
dot an instance at its attribution, coloured by the feature's value; for
an image model, the first image's attribution map as a heatmap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Number
from typing import Any

__all__ = ["explanation_figure", "show_explanation"]

# Features beyond this many are summed into one "N other features" bar or row.
MAX_FEATURES = 20
_UP, _DOWN = "#2ca02c", "#d62728"


def explanation_figure(answer: Mapping[str, Any], instances: Sequence[Any] | None = None) -> Any:
    """A ``plotly.graph_objects.Figure`` of ``answer`` (a ``projects.explain``
    answer); ``instances``, when given, colour the summary plot's dots."""
    import plotly.graph_objects as go

    labels = [e["attributions_by_label"][0] for e in answer.get("explanations", [])]
    if not labels:
        return go.Figure(layout={"title": {"text": "No instances explained"}})
    names = list(labels[0]["attributions"])
    maps = [n for n in names if isinstance(labels[0]["attributions"][n], list)]
    if maps:
        return _heatmap(go, answer, labels, maps[0])
    # The most influential features first, by mean absolute attribution.
    weight = {n: sum(abs(float(label["attributions"].get(n, 0.0))) for label in labels) for n in names}
    ranked = sorted(names, key=lambda n: -weight[n])[:MAX_FEATURES]
    if len(labels) == 1:
        return _bars(go, answer, labels[0], ranked)
    return _summary(go, answer, labels, ranked, names, instances)


def _heatmap(go: Any, answer: Mapping[str, Any], labels: list[Mapping[str, Any]], name: str) -> Any:
    which = f" (the first of {len(labels)} images)" if len(labels) > 1 else ""
    figure = go.Figure(
        go.Heatmap(
            z=labels[0]["attributions"][name],
            colorscale="RdBu_r",
            zmid=0,
            hovertemplate="row %{y}, column %{x}: %{z:.4g}<extra></extra>",
        )
    )
    figure.update_layout(
        title={"text": f"Attributions of {name}{which} ({_method(answer)})"},
        yaxis={"autorange": "reversed", "scaleanchor": "x"},
        height=420,
        margin={"t": 50, "b": 30, "l": 30, "r": 10},
    )
    return figure


def _bars(go: Any, answer: Mapping[str, Any], label: Mapping[str, Any], ranked: list[str]) -> Any:
    values = [float(label["attributions"][n]) for n in ranked]
    rest = sum(float(v) for n, v in label["attributions"].items() if n not in ranked)
    names = list(ranked)
    if len(label["attributions"]) > len(ranked):
        names.append(f"{len(label['attributions']) - len(ranked)} other features")
        values.append(rest)
    title = f"Attributions ({_method(answer)})"
    if isinstance(label.get("example_score"), Number) and isinstance(label.get("baseline_score"), Number):
        title += f": score {label['example_score']:.4g} against {label['baseline_score']:.4g} at the baseline"
    figure = go.Figure(
        go.Bar(
            x=values[::-1],
            y=names[::-1],
            orientation="h",
            marker={"color": [_UP if v >= 0 else _DOWN for v in values[::-1]]},
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
        )
    )
    figure.update_layout(title={"text": title}, xaxis_title="attribution", **_layout(len(names)))
    return figure


def _summary(
    go: Any,
    answer: Mapping[str, Any],
    labels: list[Mapping[str, Any]],
    ranked: list[str],
    names: list[str],
    instances: Sequence[Any] | None,
) -> Any:
    figure = go.Figure()
    for row, name in enumerate(reversed(ranked)):
        attributions = [float(label["attributions"].get(name, 0.0)) for label in labels]
        # A deterministic spread around the row, so that equal values do not hide each other.
        spread = [row + ((i * 0.618) % 1 - 0.5) * 0.6 for i in range(len(labels))]
        values = _feature_values(instances, name, names.index(name), len(labels))
        numeric = values is not None and all(isinstance(v, Number) for v in values)
        marker: dict[str, Any] = {"size": 6, "opacity": 0.8}
        if numeric:
            marker |= {"color": values, "colorscale": "RdBu_r", "showscale": row == 0}
            if row == 0:
                marker["colorbar"] = {"title": {"text": "feature value"}}
        figure.add_trace(
            go.Scatter(
                x=attributions,
                y=spread,
                mode="markers",
                name=name,
                marker=marker,
                text=[str(v) for v in values] if values is not None else None,
                hovertemplate=f"{name}=%{{text}}: %{{x:.4g}}<extra></extra>"
                if values is not None
                else f"{name}: %{{x:.4g}}<extra></extra>",
                showlegend=False,
            )
        )
    figure.update_layout(
        title={"text": f"Attributions of {len(labels)} instances ({_method(answer)})"},
        xaxis_title="attribution",
        yaxis={"tickmode": "array", "tickvals": list(range(len(ranked))), "ticktext": ranked[::-1]},
        **_layout(len(ranked)),
    )
    return figure


def _feature_values(
    instances: Sequence[Any] | None, name: str, position: int, count: int
) -> list[Any] | None:
    """Each instance's value of a feature: by name for objects, by position
    for lists; None when the instances are not at hand."""
    if instances is None or len(instances) != count:
        return None
    values = []
    for instance in instances:
        if isinstance(instance, Mapping):
            values.append(instance.get(name))
        elif isinstance(instance, list | tuple):
            values.append(instance[position] if position < len(instance) else None)
        else:
            values.append(instance)
    return values


def _method(answer: Mapping[str, Any]) -> str:
    method = str(answer.get("method", "")).removesuffix("Attribution")
    return f"{method} of version {answer['version']}" if "version" in answer else method


def _layout(rows: int) -> dict[str, Any]:
    return {"height": 120 + 28 * rows, "margin": {"t": 50, "b": 40, "l": 10, "r": 10}}


def show_explanation(answer: Mapping[str, Any], instances: Sequence[Any] | None = None) -> None:
    """Display the chart of ``answer`` in the notebook (plotly's own mime
    bundle, which JupyterLab draws and a saved notebook keeps)."""
    import plotly.io as pio
    from IPython.display import display

    from mlnb.widgets.charts import figure_bundle

    bundle = figure_bundle(pio.to_json(explanation_figure(answer, instances), validate=False))
    display(bundle, raw=True)  # type: ignore[no-untyped-call]
