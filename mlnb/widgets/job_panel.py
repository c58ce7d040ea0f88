"""The job panel: a job's state, progress, elapsed time, last log lines,
a cancel button and a live chart of what it reports, refreshed in a
background thread until the job ends."""

from __future__ import annotations

import html
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from mlnb.errors import MlnbError
from mlnb.states import JobKind, JobState
from mlnb.widgets.charts import LiveChart
from mlnb.widgets.display import Panel, widgets_enabled
from mlnb.widgets.tuning_panel import TuningPanel

if TYPE_CHECKING:
    from mlnb.api import Engine

_STATE_COLORS = {
    JobState.SUCCEEDED: "#1e8e3e",
    JobState.FAILED: "#d93025",
    JobState.CANCELLED: "#80868b",
    JobState.CANCELLING: "#e37400",
    JobState.RUNNING: "#1a73e8",
}
_BAR_STYLES = {JobState.SUCCEEDED: "success", JobState.FAILED: "danger"}


class JobPanel(Panel):
    """A live view of one job; also a handle on it (``wait``, ``cancel``,
    ``logs``, ``metrics``, ``trials``).

    Args:
        engine: The Engine the job is in.
        job_id: The job.
        record: The job as already read, to save a read.
        widgets: Widgets (True) or text (False); by default widgets where
            a Jupyter front end can show them.
        refresh_s: Seconds between background refreshes.
        log_lines: How many of the last log lines to show.
    """

    def __init__(
        self,
        engine: Engine,
        job_id: str,
        *,
        record: Any = None,
        widgets: bool | None = None,
        refresh_s: float = 1.0,
        log_lines: int = 15,
    ) -> None:
        self.engine = engine
        self.job_id = job_id
        self.record = record if record is not None else engine.get_job(job_id)
        self.refresh_s = refresh_s
        self.lines: deque[str] = deque(maxlen=log_lines)
        self.metrics: Any = None
        self.error: str | None = None
        self._tail = engine.job_log_tail(job_id)
        self._read_metrics = engine.job_metrics_reader(job_id)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tuning = (
            TuningPanel(engine, job_id, record=self.record, widgets=widgets)
            if self.record.kind == JobKind.TUNING
            else None
        )
        self.widget = None
        if widgets_enabled() if widgets is None else widgets:
            self._build()
        self.refresh()
        if self.widget is not None and not self.record.ended:
            self.start()

    # the job

    @property
    def state(self) -> str:
        return str(self.record.state)

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends; returns its record."""
        self.engine.wait_job(self.job_id, timeout=timeout)
        return self.refresh()

    def cancel(self) -> Any:
        """Cancel the job (the cancel button does this)."""
        try:
            self.engine.cancel_job(self.job_id)
        except MlnbError as e:
            self.error = e.message
        return self.refresh()

    def logs(self) -> list[str]:
        """Every log line so far."""
        return [entry.format() for entry in self.engine.job_logs(self.job_id)]

    def trials(self) -> Any:
        """A tuning job's trials, best first (a DataFrame)."""
        return self.engine.trials(self.job_id)

    # refreshing

    def refresh(self) -> Any:
        """Read the job, its new log lines and its new metrics; update the
        widgets. Returns the record."""
        with self._lock:
            self.record = self.engine.get_job(self.job_id)
            for entry in self._tail.read():
                self.lines.append(entry.format())
            if self.tuning is not None:
                self.tuning.refresh(self.record)
            elif self.record.kind == "rollout":
                self.metrics = rollout_metrics(self.record.progress)
            else:
                self.metrics = self._read_metrics()
            if self.widget is not None:
                self._update_widgets()
        return self.record

    def start(self) -> None:
        """Refresh in a background thread until the job ends."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name=f"mlnb-panel-{self.job_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background refreshes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def following(self) -> bool:
        """Whether the background refresh runs."""
        return self._thread is not None and self._thread.is_alive()

    def _follow(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                record = self.refresh()
            except Exception as e:
                self.error = f"refresh failed: {e}"
                return
            if record.ended:
                return

    # what is shown

    def progress(self) -> tuple[int, int, str] | None:
        """``(done, total, unit)`` of the job's progress, when it reports one."""
        return self.record.progress_counts()

    def elapsed_s(self) -> float:
        """Seconds since it started (to its end once it ended)."""
        return self.record.elapsed_s()

    def text(self) -> str:
        record = self.record
        parts = [f"Job {self.job_id} ({record.kind}): {record.state}", f"elapsed {_clock(self.elapsed_s())}"]
        if record.progress_text():
            parts.append(record.progress_text())
        lines = [", ".join(parts)]
        if record.error_message:
            lines.append(f"Error: {record.error_message}")
        if self.tuning is not None and self.tuning.best is not None:
            lines.append(self.tuning.best_text())
        lines += [f"  {line}" for line in list(self.lines)[-5:]]
        return "\n".join(lines)

    def _build(self) -> None:
        import ipywidgets as w
        import plotly.graph_objects as go

        self.title = w.HTML()
        self.progress_bar = w.IntProgress(min=0, max=1, value=0, description="", layout={"width": "50%"})
        self.progress_label = w.Label()
        self.elapsed_label = w.Label()
        self.cancel_button = w.Button(description="Cancel job", button_style="danger", icon="stop")
        self.cancel_button.on_click(lambda _button: self.cancel())
        self.message = w.HTML()
        # A rollout's step (the canary's figures beside the other versions'),
        # or a pipeline's steps and their states.
        self.rollout_box = w.HTML(layout={"display": "none"})
        self.log_box = w.Textarea(disabled=True, layout={"width": "100%", "height": "14em"})
        if self.tuning is not None and self.tuning.curve_chart is not None:
            self.live_chart = self.tuning.curve_chart
        else:
            layout = {"height": 300, "margin": {"t": 30, "b": 40, "l": 50, "r": 10}}
            self.live_chart = LiveChart(go.Figure(layout=layout))
        self.chart = self.live_chart.figure
        # Shown once there is something to draw: no empty 300 px chart for a
        # job that reports no metrics.
        self.chart_box = w.Box([self.live_chart.widget], layout={"display": "none"})
        children = [
            self.title,
            w.HBox([self.progress_bar, self.progress_label, self.elapsed_label, self.cancel_button]),
            self.message,
            self.rollout_box,
            self.chart_box,
        ]
        if self.tuning is not None and self.tuning.widget is not None:
            children.append(self.tuning.details)
        children.append(w.Accordion(children=[self.log_box], titles=("Last log lines",), selected_index=0))
        self.widget = w.VBox(children)

    def _update_widgets(self) -> None:
        record = self.record
        color = _STATE_COLORS.get(record.state, "#5f6368")
        self.title.value = (
            f"<b>{html.escape(self.job_id)}</b> · {record.kind} · "
            f"<span style='color:{color};font-weight:bold'>{record.state}</span>"
        )
        progress = self.progress()
        if progress:
            done, total, _unit = progress
            self.progress_bar.max = total
            self.progress_bar.value = min(done, total)
            self.progress_label.value = self.record.progress_text()
        elif record.state == JobState.SUCCEEDED:
            self.progress_bar.max, self.progress_bar.value = 1, 1
            self.progress_label.value = "done"
        self.progress_bar.bar_style = {JobState.SUCCEEDED: "success", JobState.FAILED: "danger"}.get(
            record.state, "info"
        )
        # A separator, so that "3/3 epochs" and "elapsed 0:01:05" do not run together.
        separator = "· " if self.progress_label.value else ""
        self.elapsed_label.value = f"{separator}elapsed {_clock(self.elapsed_s())}"
        self.cancel_button.disabled = record.ended or record.state == JobState.CANCELLING
        # An ended job has nothing to cancel: the button goes, not just greys.
        self.cancel_button.layout.display = "none" if record.ended else ""
        problems = [m for m in (record.error_message, self.error) if m]
        self.message.value = "".join(f"<div style='color:#d93025'>{html.escape(m)}</div>" for m in problems)
        self.log_box.value = "\n".join(self.lines)
        tables = {"rollout": rollout_table, "pipeline": pipeline_view}
        table = tables.get(str(record.kind))
        rollout = table(record.progress) if table is not None else ""
        self.rollout_box.value = rollout
        self.rollout_box.layout.display = "" if rollout else "none"
        if self.tuning is None and self.metrics is not None:
            _draw_series(self.chart, self.metrics, "seconds" if record.kind == "rollout" else "step")
            self.live_chart.redraw()
        drawn = (
            bool(self.tuning.best_so_far)
            if self.tuning is not None
            else bool(self.metrics is not None and len(self.metrics))
        )
        self.chart_box.layout.display = "" if drawn else "none"


def rollout_table(progress: dict[str, Any] | None) -> str:
    """A rollout's current step as HTML: the canary's share, and its
    requests, error rate and p99 latency beside the other versions'."""
    if not progress or "canary" not in progress:
        return ""

    def cells(figures: dict[str, Any] | None) -> str:
        figures = figures or {}
        p99 = figures.get("latencyP99Ms")
        values = (
            str(figures.get("requests", 0)),
            f"{float(figures.get('errorRate', 0.0)):.1%}",
            f"{p99:.1f} ms" if isinstance(p99, int | float) else "-",
        )
        return "".join(f"<td style='padding:0 1em'>{v}</td>" for v in values)

    canary = html.escape(str(progress["canary"]))
    head = "".join(f"<th style='padding:0 1em'>{h}</th>" for h in ("", "requests", "failed", "p99"))
    total = int(progress.get("total", 0))
    step = min(int(progress.get("done", 0)) + 1, total)  # the step under way (the last, once all passed)
    return (
        f"<div>Step {step} of {total}: {canary} takes {progress.get('share')}% of the traffic</div>"
        f"<table><tr>{head}</tr>"
        f"<tr><td>{canary} (canary)</td>{cells(progress.get('last'))}</tr>"
        f"<tr><td>the others</td>{cells(progress.get('others'))}</tr></table>"
    )


_STEP_COLORS = {
    "SUCCEEDED": "#188038",
    "CACHED": "#188038",
    "FAILED": "#d93025",
    "RUNNING": "#1a73e8",
    "SKIPPED": "#5f6368",
    "PENDING": "#5f6368",
}


def pipeline_view(progress: dict[str, Any] | None) -> str:
    """A pipeline's graph, then its table of steps."""
    return pipeline_graph(progress) + pipeline_table(progress)


def pipeline_graph(progress: dict[str, Any] | None) -> str:
    """A pipeline's graph as SVG: a box a step, coloured by its state, laid
    out left to right by the ``layers`` of its progress, an arrow from each
    step to the steps that need it. Empty without layers (a pipeline run
    before they were recorded)."""
    steps = {str(s.get("name")): s for s in (progress or {}).get("steps") or []}
    layers = [[n for n in layer if n in steps] for layer in (progress or {}).get("layers") or []]
    if not steps or not any(layers):
        return ""
    box_w, box_h, gap_x, gap_y = 140, 38, 36, 10
    at: dict[str, tuple[int, int]] = {}
    for x, layer in enumerate(layers):
        for y, name in enumerate(layer):
            at[name] = (x * (box_w + gap_x), y * (box_h + gap_y))
    width = len(layers) * (box_w + gap_x) - gap_x
    height = max(len(layer) for layer in layers) * (box_h + gap_y) - gap_y
    parts = [
        "<defs><marker id='mlnb-arrow' viewBox='0 0 8 8' refX='8' refY='4' markerWidth='6' "
        "markerHeight='6' orient='auto'><path d='M0,0 L8,4 L0,8 z' fill='#80868b'/></marker></defs>"
    ]
    for name, step in steps.items():
        for need in step.get("needs") or []:
            if name in at and need in at:
                (x1, y1), (x2, y2) = at[need], at[name]
                parts.append(
                    f"<line x1='{x1 + box_w}' y1='{y1 + box_h // 2}' x2='{x2 - 2}' y2='{y2 + box_h // 2}' "
                    "stroke='#80868b' stroke-width='1.5' marker-end='url(#mlnb-arrow)'/>"
                )
    for name, (x, y) in at.items():
        step = steps[name]
        state = str(step.get("state", ""))
        color = _STEP_COLORS.get(state, "#5f6368")
        shown = name if len(name) <= 18 else name[:17] + "…"
        tip = f"{name} ({step.get('action')}): {state}" + (f": {step['error']}" if step.get("error") else "")
        parts.append(
            f"<g class='mlnb-step' data-step='{html.escape(name, quote=True)}'>"
            f"<title>{html.escape(tip)}</title>"
            f"<rect x='{x}' y='{y}' width='{box_w}' height='{box_h}' rx='6' fill='white' "
            f"stroke='{color}' stroke-width='2'/>"
            f"<text x='{x + 8}' y='{y + 16}' font-size='12' font-weight='bold'>{html.escape(shown)}</text>"
            f"<text x='{x + 8}' y='{y + 31}' font-size='11' fill='{color}'>{html.escape(state)}</text></g>"
        )
    return (
        f"<svg class='mlnb-pipeline-graph' width='{width + 4}' height='{height + 4}' "
        f"viewBox='-2 -2 {width + 4} {height + 4}' font-family='sans-serif'>{''.join(parts)}</svg>"
    )


def pipeline_table(progress: dict[str, Any] | None) -> str:
    """A pipeline's steps as HTML, in order: each one's state, what it
    needs, its child job, and why it failed or was skipped."""
    steps = (progress or {}).get("steps") or []
    if not steps:
        return ""
    head = "".join(
        f"<th style='padding:0 1em;text-align:left'>{h}</th>" for h in ("step", "state", "needs", "job")
    )
    rows = []
    for step in steps:
        state = str(step.get("state", ""))
        color = _STEP_COLORS.get(state, "#5f6368")
        error = (
            f"<div style='color:#d93025'>{html.escape(str(step['error']))}</div>" if step.get("error") else ""
        )
        action = html.escape(str(step.get("action")))
        cells = (
            f"{html.escape(str(step.get('name')))} <span style='color:#5f6368'>({action})</span>",
            f"<span style='color:{color};font-weight:bold'>{state}</span>{error}",
            html.escape(", ".join(step.get("needs") or [])),
            html.escape(str(step.get("jobId") or "")),
        )
        rows.append("<tr>" + "".join(f"<td style='padding:0 1em'>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def rollout_metrics(progress: dict[str, Any] | None) -> Any:
    """A rollout's figures over time, from its looks at the log, as the
    chart's series (``series``, ``step``: seconds since it began, ``value``):
    the canary's and the other versions' p99 and share of failures."""
    import pandas as pd

    rows = []
    for sample in (progress or {}).get("series") or []:
        for who in ("canary", "others"):
            figures = sample.get(who) or {}
            if figures.get("latencyP99Ms") is not None:
                rows.append((f"{who} p99 ms", sample["seconds"], figures["latencyP99Ms"]))
            if figures.get("requests"):
                rows.append(
                    (f"{who} failed %", sample["seconds"], 100.0 * float(figures.get("errorRate") or 0.0))
                )
    return pd.DataFrame(rows, columns=["series", "step", "value"])


def _draw_series(figure: Any, metrics: Any, x_title: str = "step") -> None:
    """One line per reported series, redrawn in place."""
    series = sorted(set(metrics["series"])) if len(metrics) else []
    if [trace.name for trace in figure.data] != series:
        figure.data = ()
        for name in series:
            figure.add_scatter(x=[], y=[], mode="lines+markers", name=name)
    for trace in figure.data:
        rows = metrics[metrics["series"] == trace.name].sort_values("step")
        trace.x = rows["step"].tolist()
        trace.y = rows["value"].tolist()
    figure.layout.xaxis.title = x_title


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"
