"""The tuning panel: a tuning job's trials table, its best-so-far curve,
and a parallel-coordinates plot of the hyperparameters against the metric."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

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
        if widgets_enabled() if widgets is None else widgets:
            self._build()
        self.refresh(self.record)

    @property
    def maximize(self) -> bool:
        spec = (self.record.training_input or {}).get("hyperparameters") or {}
        return str(spec.get("goal", "MAXIMIZE")).upper() != "MINIMIZE"

    @property
    def parameters(self) -> list[str]:
        """The hyperparameters' names, in the spec's order."""
        spec = (self.record.training_input or {}).get("hyperparameters") or {}
        return [str(p["parameterName"]) for p in spec.get("params", []) if "parameterName" in p]

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
        params = ", ".join(f"{name}={self.best.get(name)}" for name in self.parameters)
        return f"Best: trial {self.best['trialId']} = {self.best['objectiveValue']:.6g} ({params})"

    def text(self) -> str:
        if self.trials is None or not len(self.trials):
            return f"Tuning job {self.job_id}: no trials yet."
        table = self.trials.drop(columns=["startTime", "endTime"]).to_string(index=False)
        return f"Tuning job {self.job_id}, trials best first:\n{table}\n{self.best_text()}"

    def _build(self) -> None:
        import ipywidgets as w
        import plotly.graph_objects as go

        margin = {"t": 30, "b": 40, "l": 50, "r": 10}
        self.curve = go.FigureWidget(layout={"height": 300, "margin": margin, "xaxis": {"title": "trial"}})
        self.curve.add_scatter(x=[], y=[], mode="markers", name="trial")
        self.curve.add_scatter(x=[], y=[], mode="lines", name="best so far", line={"shape": "hv"})
        self.parallel = go.FigureWidget(
            layout={"height": 320, "margin": {"t": 50, "b": 20, "l": 60, "r": 60}}
        )
        self.parallel.add_parcoords(dimensions=[])
        self.table = w.HTML()
        self.summary = w.HTML()
        self.details = w.VBox([self.summary, self.parallel, self.table])
        self.widget = w.VBox([self.curve, self.details])

    def _draw(self, ordered: list[tuple[int, float]]) -> None:
        with self.curve.batch_update():
            self.curve.data[0].x = [n for n, _ in ordered]
            self.curve.data[0].y = [v for _, v in ordered]
            self.curve.data[1].x = [n for n, _ in self.best_so_far]
            self.curve.data[1].y = [v for _, v in self.best_so_far]
        self.parallel.data[0].update(**_parallel_coordinates(self.trials, self.parameters))
        shown = self.trials.drop(columns=["startTime", "endTime"]) if len(self.trials) else self.trials
        self.table.value = shown.to_html(index=False, border=0, na_rep="") if len(shown) else ""
        self.summary.value = f"<b>{html.escape(self.best_text())}</b>"


def _parallel_coordinates(trials: Any, parameters: list[str]) -> dict[str, Any]:
    """Parcoords dimensions: one per hyperparameter (categories as ticks)
    and the metric, the lines colored by the metric."""
    reported = trials.dropna(subset=["objectiveValue"]) if len(trials) else trials
    if not len(reported):
        return {"dimensions": []}
    dimensions = []
    for name in [p for p in parameters if p in reported.columns]:
        column = reported[name]
        numeric = column.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).all()
        if numeric:
            dimensions.append({"label": name, "values": column.astype(float).tolist()})
        else:
            labels = sorted({str(v) for v in column})
            codes = {label: i for i, label in enumerate(labels)}
            dimensions.append(
                {
                    "label": name,
                    "values": [codes[str(v)] for v in column],
                    "tickvals": list(range(len(labels))),
                    "ticktext": labels,
                }
            )
    values = reported["objectiveValue"].astype(float).tolist()
    dimensions.append({"label": "metric", "values": values})
    return {"dimensions": dimensions, "line": {"color": values, "colorscale": "Viridis", "showscale": True}}
