"""The tuning panel: a tuning job's trials table, its best-so-far curve,
and a parallel-coordinates plot of the hyperparameters against the metric."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from mlnb.widgets.charts import LiveChart
from mlnb.widgets.display import Panel, widgets_enabled

if TYPE_CHECKING:
    from mlnb.api import Engine


class TuningPanel(Panel):
    """Trials of one tuning job.

    Attributes:
        trials: The trials, best first (``Engine.trials``).
        best_so_far: ``[(trial number, best value up to it)]`` in trial order.
        best: The best trial's row, or ``None`` before one reports.
    """

    def __init__(
        self, engine: Engine, job_id: str, *, record: Any = None, widgets: bool | None = None
    ) -> None:
        self.engine = engine
        self.job_id = job_id
        self.record = record if record is not None else engine.get_job(job_id)
        self.trials: Any = None
        self.best_so_far: list[tuple[int, float]] = []
        self.best: dict[str, Any] | None = None
        self.widget = None
        self.curve: Any = None
        self.curve_chart: LiveChart | None = None
        self.parallel_chart: LiveChart | None = None
        if widgets_enabled() if widgets is None else widgets:
            self._build()
        self.refresh(self.record)

    @property
    def maximize(self) -> bool:
        spec = (self.record.training_input or {}).get("hyperparameters") or {}
        return str(spec.get("goal", "MAXIMIZE")).upper() != "MINIMIZE"

    @property
    def params(self) -> list[dict[str, Any]]:
        """The spec's ParameterSpecs, in its order."""
        spec = (self.record.training_input or {}).get("hyperparameters") or {}
        return [p for p in spec.get("params", []) if isinstance(p, dict) and "parameterName" in p]

    @property
    def parameters(self) -> list[str]:
        """The hyperparameters' names, in the spec's order."""
        return [str(p["parameterName"]) for p in self.params]

    def refresh(self, record: Any = None) -> None:
        """Read the trials again (from ``record`` when given) and redraw."""
        self.record = record if record is not None else self.engine.get_job(self.job_id)
        self.trials = self.engine.trials(self.job_id)
        reported = self.trials.dropna(subset=["objectiveValue"]) if len(self.trials) else self.trials
        ordered = sorted(
            ((int(row.trialId), float(row.objectiveValue)) for row in reported.itertuples()),
            key=lambda pair: pair[0],
        )
        self.best_so_far = []
        for number, value in ordered:
            if not self.best_so_far:
                best = value
            else:
                previous = self.best_so_far[-1][1]
                best = max(previous, value) if self.maximize else min(previous, value)
            self.best_so_far.append((number, best))
        self.best = reported.iloc[0].to_dict() if len(reported) else None
        if self.widget is not None:
            self._draw(ordered)

    def best_text(self) -> str:
        if self.best is None:
            return "No trial has reported its metric yet."
        params = ", ".join(f"{name}={_short(self.best.get(name))}" for name in self.parameters)
        return f"Best: trial {self.best['trialId']} = {self.best['objectiveValue']:.4g} ({params})"

    def text(self) -> str:
        if self.trials is None or not len(self.trials):
            return f"Tuning job {self.job_id}: no trials yet."
        table = self.trials.drop(columns=["startTime", "endTime"]).to_string(index=False)
        return f"Tuning job {self.job_id}, trials best first:\n{table}\n{self.best_text()}"

    def _build(self) -> None:
        import ipywidgets as w
        import plotly.graph_objects as go

        margin = {"t": 30, "b": 40, "l": 50, "r": 10}
        self.curve = go.Figure(layout={"height": 300, "margin": margin, "xaxis": {"title": "trial"}})
        self.curve.add_scatter(x=[], y=[], mode="markers", name="trial")
        self.curve.add_scatter(x=[], y=[], mode="lines", name="best so far", line={"shape": "hv"})
        self.parallel = go.Figure(layout={"height": 320, "margin": {"t": 60, "b": 20, "l": 90, "r": 90}})
        self.parallel.add_parcoords(dimensions=[])
        self.curve_chart = LiveChart(self.curve)
        self.parallel_chart = LiveChart(self.parallel)
        self.table = w.HTML()
        self.summary = w.HTML()
        self.details = w.VBox([self.summary, self.parallel_chart.widget, self.table])
        self.widget = w.VBox([self.curve_chart.widget, self.details])

    def _draw(self, ordered: list[tuple[int, float]]) -> None:
        self.curve.data[0].x = [n for n, _ in ordered]
        self.curve.data[0].y = [v for _, v in ordered]
        self.curve.data[1].x = [n for n, _ in self.best_so_far]
        self.curve.data[1].y = [v for _, v in self.best_so_far]
        self.parallel.data[0].update(**_parallel_coordinates(self.trials, self.params))
        for chart in (self.curve_chart, self.parallel_chart):
            if chart is not None:
                chart.redraw()
        shown = self.trials.drop(columns=["startTime", "endTime"]) if len(self.trials) else self.trials
        table = shown.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}")
        # JupyterLab's own table style (rendered HTML), headers aligned with their columns.
        self.table.value = f"<div class='jp-RenderedHTMLCommon'>{table}</div>" if len(shown) else ""
        self.summary.value = f"<b>{html.escape(self.best_text())}</b>"


def _parallel_coordinates(trials: Any, params: list[dict[str, Any]]) -> dict[str, Any]:
    """Parcoords dimensions: one per hyperparameter and the metric, the
    lines colored by the metric. Numbers (however the trials hold them:
    ML Engine writes hyperparameters as strings) are an axis in numeric
    order, on a log axis for a log-scale parameter; other values are
    categories; every number shows 4 significant figures."""
    reported = trials.dropna(subset=["objectiveValue"]) if len(trials) else trials
    if not len(reported):
        return {"dimensions": []}
    dimensions = []
    for param in params:
        name = str(param.get("parameterName", ""))
        if name not in reported.columns:
            continue
        numbers = _numbers(reported[name].tolist())
        if numbers is None:
            labels = sorted({str(v) for v in reported[name]})
            codes = {label: i for i, label in enumerate(labels)}
            dimensions.append(
                {
                    "label": name,
                    "values": [codes[str(v)] for v in reported[name]],
                    "tickvals": list(range(len(labels))),
                    "ticktext": labels,
                }
            )
        elif str(param.get("scaleType", "")).endswith("LOG_SCALE") and min(numbers) > 0:
            ticks = sorted(set(numbers))
            dimensions.append(
                {
                    "label": f"{name} (log)",
                    "values": [math.log10(v) for v in numbers],
                    "tickvals": [math.log10(v) for v in ticks],
                    "ticktext": [f"{v:.4g}" for v in ticks],
                }
            )
        else:
            dimensions.append({"label": name, "values": numbers, "tickformat": ".4g"})
    values = reported["objectiveValue"].astype(float).tolist()
    dimensions.append({"label": "metric", "values": values, "tickformat": ".4g"})
    return {"dimensions": dimensions, "line": {"color": values, "colorscale": "Viridis", "showscale": True}}


def _numbers(values: list[Any]) -> list[float] | None:
    """``values`` as floats when every one is a number or a number's text."""
    if not values or any(isinstance(v, bool) for v in values):
        return None
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


def _short(value: Any) -> str:
    """A hyperparameter's value in 4 significant figures when it is a number."""
    numbers = _numbers([value])
    return f"{numbers[0]:.4g}" if numbers else str(value)
