"""The model browser: the project's models and their versions, the
default marked; set-default, delete with a confirmation, a predict form
that sends instances to a version and explains its predictions, and the
model's scheduled batch prediction jobs (pause, resume, run now)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from mlnb.cli.instances import parse_instances
from mlnb.errors import FailedPrecondition, InvalidArgument, MlnbError
from mlnb.states import VersionState
from mlnb.widgets.charts import LiveChart
from mlnb.widgets.display import Panel, widgets_enabled
from mlnb.widgets.explanation_chart import explanation_figure

if TYPE_CHECKING:
    from mlnb.api import Engine
    from mlnb.records import ScheduleRecord


class ModelBrowser(Panel):
    """Browse and act on models and versions.

    Every button has a method of the same purpose (``select_model``,
    ``select_version``, ``set_default``, ``ask_delete``/``confirm_delete``,
    ``predict``, ``explain``, ``select_schedule``, ``pause_schedule``,
    ``resume_schedule``, ``run_schedule``), which is what the buttons call.
    """

    def __init__(self, engine: Engine, *, model: str | None = None, widgets: bool | None = None) -> None:
        self.engine = engine
        self.models: list[Any] = []
        self.versions: list[Any] = []
        self.model: str | None = model
        self.version: str | None = None
        # The model's scheduled batch prediction jobs, each with its newest run.
        self.schedules: list[ScheduleRecord] = []
        self.schedule: str | None = None
        self.pending_delete: str | None = None
        self.message = ""
        self.predictions: list[Any] | None = None
        self.explanation: dict[str, Any] | None = None
        self.widget = None
        if widgets_enabled() if widgets is None else widgets:
            self._build()
        self.refresh()

    # actions

    def refresh(self) -> None:
        """Read the models and the selected model's versions again."""
        self.models = self.engine.list_models()
        names = [m.name for m in self.models]
        if self.model not in names:
            self.model = names[0] if names else None
        self.versions = self.engine.list_versions(self.model) if self.model else []
        version_names = [v.name for v in self.versions]
        if self.version not in version_names:
            default = next((v.name for v in self.versions if v.is_default), None)
            self.version = default or (version_names[0] if version_names else None)
        self.schedules = self.engine.list_schedules(model=self.model, newest_run=True) if self.model else []
        if self.schedule not in [s.name for s in self.schedules]:
            self.schedule = self.schedules[0].name if self.schedules else None
        if self.widget is not None:
            self._update_widgets()

    def select_model(self, name: str) -> None:
        self.model, self.version, self.pending_delete = name, None, None
        self.refresh()

    def select_version(self, name: str) -> None:
        self.version, self.pending_delete = name, None
        if self.widget is not None:
            self._update_widgets()

    def set_default(self) -> None:
        """Make the selected version its model's default."""
        model, version = self.model, self.version
        if model and version:
            self._act(
                lambda: self.engine.set_default_version(model, version),
                f"{version} is now the default of {model}.",
            )

    def ask_delete(self) -> None:
        """Ask to confirm deleting the selected version."""
        self.pending_delete = self.version
        if self.widget is not None:
            self._update_widgets()

    def confirm_delete(self) -> None:
        """Delete the version that ``ask_delete`` asked about."""
        model, name, self.pending_delete = self.model, self.pending_delete, None
        if model and name:
            self._act(lambda: self.engine.delete_version(model, name), f"Deleted version {name} of {model}.")

    def cancel_delete(self) -> None:
        self.pending_delete = None
        if self.widget is not None:
            self._update_widgets()

    def select_schedule(self, name: str) -> None:
        self.schedule = name
        if self.widget is not None:
            self._update_widgets()

    def pause_schedule(self) -> None:
        """Pause the selected schedule."""
        if self.schedule:
            name = self.schedule
            self._act(lambda: self.engine.pause_schedule(name), f"Paused {name}.")

    def resume_schedule(self) -> None:
        """Resume the selected schedule."""
        if self.schedule:
            name = self.schedule
            self._act(lambda: self.engine.resume_schedule(name), f"Resumed {name}.")

    def run_schedule(self) -> None:
        """Run the selected schedule's job now, beside its cadence."""
        if self.schedule:
            name = self.schedule
            self._act(lambda: self.engine.run_schedule(name), lambda job: f"Submitted {job.job_id}.")

    def predict(self, instances: str | list[Any]) -> list[Any] | None:
        """Send instances (a list, or text read as ``%%ml predict`` reads
        its body: one JSON instance a line, or ``{"instances": [...]}``) to
        the selected version; the predictions are shown too."""
        self.predictions, self.explanation = None, None

        def act(model: str, parsed: list[Any]) -> str:
            self.predictions = self.engine.predict(model, parsed, version=self.version)
            return f"{len(self.predictions)} prediction(s) from {model}/{self.version}."

        self._send(instances, act)
        return self.predictions

    def explain(self, instances: str | list[Any]) -> dict[str, Any] | None:
        """Explain the selected version's predictions of instances (as
        ``predict`` takes them): the answer, and its chart shown."""
        self.predictions, self.explanation = None, None

        def act(model: str, parsed: list[Any]) -> str:
            answer = self.explanation = self.engine.explain(model, parsed, version=self.version)
            self.predictions = answer["predictions"]
            if self.widget is not None:
                self.chart.figure = explanation_figure(answer, parsed)
                self.chart.redraw()
            return f"{len(parsed)} explanation(s) from {model}/{self.version} ({answer['method']})."

        self._send(instances, act)
        return self.explanation

    def _send(self, instances: str | list[Any], act: Callable[[str, list[Any]], str]) -> None:
        """Read ``instances`` and ``act`` on them with the selected model;
        what it did (or the error) becomes the status line."""
        read = ""
        try:
            if self.model is None:
                raise FailedPrecondition("There is no model to predict with; deploy one first")
            if isinstance(instances, str):
                parsed, _, read = parse_instances(instances, "the text")
                if not parsed:
                    raise InvalidArgument('Give instances: one JSON instance a line, or {"instances": [...]}')
            else:
                parsed = instances
            self.message = act(self.model, parsed)
        except MlnbError as e:
            self.message = f"Error: {e.message}" + (f" (the instances were read as {read})" if read else "")
        if self.widget is not None:
            self._update_widgets()

    def _act(self, action: Callable[[], Any], done: str | Callable[[Any], str]) -> None:
        """Do ``action``; ``done`` (or ``done(result)``) or the error becomes
        the status line."""
        try:
            result = action()
            self.message = done if isinstance(done, str) else done(result)
        except MlnbError as e:
            self.message = f"Error: {e.message}"
        self.refresh()

    # display

    def text(self) -> str:
        if not self.models:
            return "No models yet (create one with %ml deploy MODEL VERSION --origin DIR)."
        lines = []
        for model in self.models:
            default = model.default_version.name if model.default_version else "none"
            lines.append(f"{model.name}  (default: {default})")
            if model.name == self.model:
                for v in self.versions:
                    mark = "*" if v.is_default else " "
                    lines.append(
                        f"  {mark} {v.name:<12} {v.state:<8} {v.framework or '':<14} {v.create_time:%F %T}"
                    )
                lines.extend(f"  scheduled: {_schedule_text(s)}" for s in self.schedules)
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)

    def _build(self) -> None:
        import ipywidgets as w

        self.model_picker = w.Dropdown(description="Model")
        self.model_picker.observe(self._on_model, names="value")
        self.version_picker = w.Select(description="Versions", rows=6, layout={"width": "60%"})
        self.version_picker.observe(self._on_version, names="value")
        self.details = w.HTML()
        self.default_button = w.Button(description="Set default", icon="star")
        self.default_button.on_click(lambda _b: self.set_default())
        self.delete_button = w.Button(description="Delete", button_style="danger", icon="trash")
        self.delete_button.on_click(lambda _b: self.ask_delete())
        self.confirm_label = w.HTML()
        self.confirm_button = w.Button(description="Yes, delete", button_style="danger")
        self.confirm_button.on_click(lambda _b: self.confirm_delete())
        self.keep_button = w.Button(description="No, keep it")
        self.keep_button.on_click(lambda _b: self.cancel_delete())
        self.confirm_row = w.HBox([self.confirm_label, self.confirm_button, self.keep_button])
        self.instances_box = w.Textarea(
            placeholder='One JSON instance a line, e.g. [5.1, 3.5, 1.4, 0.2], or {"instances": [...]}',
            layout={"width": "100%", "height": "6em"},
        )
        self.predict_button = w.Button(description="Predict", button_style="primary", icon="play")
        self.predict_button.on_click(lambda _b: self.predict(self.instances_box.value))
        self.explain_button = w.Button(description="Explain", icon="question")
        self.explain_button.on_click(lambda _b: self.explain(self.instances_box.value))
        self.schedule_picker = w.Select(description="Scheduled", rows=3, layout={"width": "100%"})
        self.schedule_picker.observe(self._on_schedule, names="value")
        self.pause_button = w.Button(description="Pause", icon="pause")
        self.pause_button.on_click(lambda _b: self.pause_schedule())
        self.resume_button = w.Button(description="Resume", icon="play")
        self.resume_button.on_click(lambda _b: self.resume_schedule())
        self.run_button = w.Button(description="Run now", icon="forward")
        self.run_button.on_click(lambda _b: self.run_schedule())
        self.schedule_box = w.VBox(
            [self.schedule_picker, w.HBox([self.pause_button, self.resume_button, self.run_button])]
        )
        self.status = w.HTML()
        self.output = w.HTML()
        self.chart = LiveChart(None)
        self.chart_box = w.Box([self.chart.widget], layout={"display": "none"})
        refresh = w.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.refresh())
        self.widget = w.VBox(
            [
                w.HBox([self.model_picker, refresh]),
                self.version_picker,
                self.details,
                w.HBox([self.default_button, self.delete_button]),
                self.confirm_row,
                self.instances_box,
                w.HBox([self.predict_button, self.explain_button]),
                self.schedule_box,
                self.status,
                self.output,
                self.chart_box,
            ]
        )

    def _update_widgets(self) -> None:
        self._updating = True
        try:
            self.model_picker.options = [m.name for m in self.models]
            self.model_picker.value = self.model
            self.version_picker.options = [
                (
                    f"{v.name}{'  (default)' if v.is_default else ''}  · {v.state} · {v.framework or ''}",
                    v.name,
                )
                for v in self.versions
            ]
            self.version_picker.value = self.version
            self.schedule_picker.options = [(_schedule_text(s), s.name) for s in self.schedules]
            self.schedule_picker.value = self.schedule
        finally:
            self._updating = False
        scheduled = next((s for s in self.schedules if s.name == self.schedule), None)
        self.schedule_box.layout.display = None if self.schedules else "none"
        self.pause_button.disabled = scheduled is None or scheduled.state != "ACTIVE"
        self.resume_button.disabled = scheduled is None or scheduled.state != "PAUSED"
        self.run_button.disabled = scheduled is None
        chosen = next((v for v in self.versions if v.name == self.version), None)
        self.details.value = _version_html(chosen) if chosen else ""
        self.default_button.disabled = (
            chosen is None or chosen.is_default or chosen.state != VersionState.READY
        )
        self.delete_button.disabled = chosen is None
        self.confirm_row.layout.display = None if self.pending_delete else "none"
        self.confirm_label.value = (
            f"Delete version <b>{html.escape(self.pending_delete)}</b> of {html.escape(self.model or '')}"
            " and its files?"
            if self.pending_delete
            else ""
        )
        self.predict_button.disabled = chosen is None or chosen.state != VersionState.READY
        self.explain_button.disabled = self.predict_button.disabled
        self.chart_box.layout.display = None if self.explanation is not None else "none"
        color = "#d93025" if self.message.startswith("Error") else "#1e8e3e"
        self.status.value = (
            f"<span style='color:{color}'>{html.escape(self.message)}</span>" if self.message else ""
        )
        self.output.value = _predictions_html(self.predictions) if self.predictions is not None else ""

    def _on_model(self, change: dict[str, Any]) -> None:
        if not getattr(self, "_updating", False) and change["new"] and change["new"] != self.model:
            self.select_model(change["new"])

    def _on_version(self, change: dict[str, Any]) -> None:
        if not getattr(self, "_updating", False) and change["new"] and change["new"] != self.version:
            self.select_version(change["new"])

    def _on_schedule(self, change: dict[str, Any]) -> None:
        if not getattr(self, "_updating", False) and change["new"] and change["new"] != self.schedule:
            self.select_schedule(change["new"])


def _schedule_text(schedule: ScheduleRecord) -> str:
    """``nightly · every 1d · ACTIVE · next 2026-12-07 02:00 · last SUCCEEDED``."""
    said = [schedule.name, schedule.cadence, schedule.state]
    if schedule.next_run_time is not None and schedule.state == "ACTIVE":
        said.append(f"next {schedule.next_run_time:%Y-%m-%d %H:%M} UTC")
    if schedule.recent_runs:
        said.append(f"last {schedule.recent_runs[0].to_api().get('state')}")
    return " · ".join(said)


def _version_html(version: Any) -> str:
    rows = {
        "state": version.state,
        "framework": version.framework,
        "created": f"{version.create_time:%F %T}",
        "description": version.description,
        "files": version.deployment_uri,
        "error": version.error_message,
    }
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{k}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows.items()
        if v
    )
    return f"<table>{cells}</table>"


def _predictions_html(predictions: list[Any]) -> str:
    items = "".join(
        f"<li><code>{html.escape(orjson.dumps(p).decode())}</code></li>" for p in predictions[:100]
    )
    more = f"<li>... {len(predictions) - 100} more</li>" if len(predictions) > 100 else ""
    return f"<ol start='0'>{items}{more}</ol>"
