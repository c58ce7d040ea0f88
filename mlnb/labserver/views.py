"""What the sidebar shows, as JSON: models with their versions, jobs with
their progress and elapsed time, the background server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlnb.records import JobRecord, format_time
from mlnb.states import JobKind

if TYPE_CHECKING:
    from mlnb.api import Engine


def models_view(engine: Engine) -> list[dict[str, Any]]:
    """Every model with its versions, oldest version first."""
    rows = []
    for model in engine.list_models():
        rows.append(
            {
                "name": model.name,
                "description": model.description,
                "defaultVersion": model.default_version.name if model.default_version else None,
                "versions": [
                    {
                        "name": v.name,
                        "state": v.state,
                        "framework": v.framework,
                        "isDefault": v.is_default,
                        "createTime": format_time(v.create_time),
                        "description": v.description,
                        "errorMessage": v.error_message,
                    }
                    for v in engine.list_versions(model.name)
                ],
            }
        )
    return rows


def job_view(job: JobRecord, root: Path | None = None) -> dict[str, Any]:
    """A job as the sidebar lists it; ``notebookPath`` is the executed
    notebook's path under Jupyter's root, when it is there."""
    view = {
        "jobId": job.job_id,
        "kind": job.kind,
        "state": job.state,
        "progress": job.progress,
        "createTime": format_time(job.create_time),
        "elapsedS": job.elapsed_s(),
        "errorMessage": job.error_message,
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
