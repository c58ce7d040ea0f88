"""What the sidebar reads, as JSON: the REST API's own bodies (each
record's ``to_api()``), with the few fields only the sidebar needs added
beside them: a model's versions, a job's kind, elapsed time and executed
notebook under Jupyter's root."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlnb.records import JobRecord, ScheduleRecord
from mlnb.states import JobKind

if TYPE_CHECKING:
    from mlnb.api import Engine


def models_view(engine: Engine) -> dict[str, Any]:
    """``{"models": [...]}`` as ``models.list`` answers it, each model with
    its ``versions`` (``Version`` bodies, oldest first) beside, each with
    its last drift check (``drift``) and newest evaluation (``evaluation``)
    when it has them."""
    project = engine.project
    checks = {
        (c["model"], c["version"]): c["lastCheck"] for c in engine.drift_checks() if c["project"] == project
    }
    evaluations = engine.latest_evaluations()
    models = []
    for model in engine.list_models():
        versions = []
        for version in engine.list_versions(model.name):
            body = version.to_api()
            check = checks.get((model.name, version.name))
            if check is not None:
                body["drift"] = {"drifted": check.get("drifted", []), "time": check.get("time")}
            evaluation = evaluations.get((model.name, version.name))
            if evaluation is not None:
                body["evaluation"] = {"dataset": evaluation.dataset, "figures": evaluation.headline}
            versions.append(body)
        models.append({**model.to_api(), "versions": versions})
    return {"models": models}


def job_view(job: JobRecord, root: Path | None = None) -> dict[str, Any]:
    """The ``Job`` body, with its ``kind``, ``elapsedS`` (the record's one
    elapsed time) and ``notebookPath``: the executed notebook's path under
    Jupyter's root, when it is there."""
    view = {
        **job.to_api(),
        "kind": job.kind,
        "elapsedS": job.elapsed_s(),
        "progressText": job.progress_text(),
        "notebookPath": None,
    }
    if job.kind == JobKind.NOTEBOOK and root is not None:
        view["notebookPath"] = executed_notebook(job, root)
    return view


def executed_notebook(job: Any, root: Path) -> str | None:
    """The executed notebook's path relative to ``root``: the job's own
    output, or its copy in the job directory, whichever is under ``root``."""
    notebook_input = job.notebook_input or {}
    output = notebook_input.get("outputNotebook")
    candidates = [output]
    if output and notebook_input.get("jobDir"):
        candidates.append(str(Path(notebook_input["jobDir"]) / Path(output).name))
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate).resolve()
        if path.is_file() and path.is_relative_to(root.resolve()):
            return path.relative_to(root.resolve()).as_posix()
    return None


def tensorboards_view(engine: Engine) -> list[dict[str, Any]]:
    """The home's running TensorBoards (``Engine.tensorboards()``), each
    with ``proxyPath``, jupyter-server-proxy's path to its port."""
    return [{**board, "proxyPath": f"proxy/{board['port']}/"} for board in engine.tensorboards()]


def jobs_view(engine: Engine, root: Path, limit: int = 50) -> dict[str, Any]:
    """``{"jobs": [...]}``: the newest ``limit`` jobs as ``job_view`` has them."""
    return {"jobs": [job_view(j, root) for j in engine.list_jobs()[:limit]]}


def server_view(engine: Engine) -> dict[str, Any]:
    """The home's background REST server: ``{"running": false}`` or its status."""
    found = engine.server_status()
    return {"running": False} if found is None else {"running": True, **found}


def schedule_view(engine: Engine, name: str) -> dict[str, Any]:
    """The ``Schedule`` body (with its newest run), and ``lastRunState``:
    its newest run's job state, ``cadence`` in words, and ``model``: the
    model its batch prediction jobs predict with (or ``None``)."""
    return _schedule_body(engine.get_schedule(name, runs=1))  # the newest run's state only


def _schedule_body(record: ScheduleRecord) -> dict[str, Any]:
    body = record.to_api()
    runs = record.recent_runs
    body["lastRunState"] = runs[0].to_api().get("state") if runs else None
    body["cadence"] = record.cadence
    body["model"] = record.predicted_model
    return body


def schedules_view(engine: Engine, limit: int = 50) -> dict[str, Any]:
    """``{"schedules": [...]}``: the project's schedules as ``schedule_view``
    has them (the first ``limit`` by name)."""
    listed = engine.list_schedules(newest_run=True)[:limit]  # one read for all, not one each
    return {"schedules": [_schedule_body(record) for record in listed]}


def sidebar_state(engine: Engine, root: Path) -> dict[str, Any]:
    """Everything the sidebar shows, in one read (what its feed pushes)."""
    return {
        **models_view(engine),
        **jobs_view(engine, root),
        **schedules_view(engine),
        "server": server_view(engine),
        "tensorboards": tensorboards_view(engine),
    }
