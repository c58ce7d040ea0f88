"""What a magic hands back: DataFrames for lists and predictions, a live
panel for a job, the record itself otherwise."""

from __future__ import annotations

from typing import Any

from mlnb.cli.monitor import drift_rows, profile_rows
from mlnb.cli.output import explanation_rows
from mlnb.records import EvaluationRecord, JobRecord, ModelRecord, VersionRecord


def present(path: tuple[str, ...], result: Any, state: Any) -> Any:
    """The Python object a magic returns for ``result`` of the command at ``path``."""
    if not state.out.returns_objects:  # --format json|yaml|table printed the result already
        return None
    if path in (("predict",), ("local", "predict")):
        return predictions_frame(result or [])
    if path == ("explain",) and isinstance(result, dict):
        return explanations_frame(result)
    if path == ("evaluate",):
        return evaluation_frame(result)
    answer_frame = _ANSWER_FRAMES.get(path)
    if answer_frame is not None and isinstance(result, dict):
        return answer_frame(result)
    if path in (("jobs", "logs"), ("server", "stop"), ("tensorboard", "stop")):
        return None
    if path == ("jobs", "list"):
        return jobs_frame(result)
    if path == ("models", "list"):
        return models_frame(result)
    if path == ("versions", "list"):
        return versions_frame(result, state)
    if path in (("models", "history"), ("models", "prediction-log")) and isinstance(result, list):
        import pandas as pd

        return pd.DataFrame(result)
    if isinstance(result, JobRecord):
        from mlnb.widgets import JobPanel

        panel = JobPanel(state.engine, result.job_id, record=result)
        panel.show()
        return panel
    return result


def predictions_frame(predictions: list[Any]) -> Any:
    """Predictions as a DataFrame: one column ``prediction`` for scalars, a
    column per key for dicts, per position for lists."""
    import pandas as pd

    if predictions and all(isinstance(p, dict) for p in predictions):
        return pd.DataFrame(predictions)
    if predictions and all(isinstance(p, list) for p in predictions):
        return pd.DataFrame(predictions)
    return pd.DataFrame({"prediction": predictions})


def explanations_frame(answer: dict[str, Any]) -> Any:
    """An explain answer as a DataFrame: one row an instance, one column a
    feature's attribution, then the prediction, the explained label and its
    score against the baseline's. The whole answer is in ``.attrs``."""
    import pandas as pd

    frame = pd.DataFrame(explanation_rows(answer)[0])
    frame.attrs["explanation"] = answer
    return frame


def evaluation_frame(result: EvaluationRecord | dict[str, Any]) -> Any:
    """An evaluation's headline figures as a DataFrame, a row a figure and
    a column a version (a comparison adds the difference and its interval).
    The whole evaluation (or comparison) is in ``.attrs``."""
    import pandas as pd

    records = [result] if isinstance(result, EvaluationRecord) else list(result["evaluations"])
    columns = {record.version: record.headline for record in records}
    frame = pd.DataFrame(columns)
    if isinstance(result, dict):
        for key in ("difference", "low", "high"):
            frame[key] = [result["differences"].get(name, {}).get(key) for name in frame.index]
        frame.attrs["evaluation"] = {
            "evaluations": [r.to_api() for r in records],
            "differences": result["differences"],
        }
    else:
        frame.attrs["evaluation"] = result.to_api()
    frame.index.name = "figure"
    return frame


def comparison_frame(answer: dict[str, Any]) -> Any:
    """A shadow's disagreements, a row each; the whole answer (agreement,
    counts) in ``.attrs["comparison"]``."""
    import pandas as pd

    frame = pd.DataFrame(answer["disagreements"])
    frame.attrs["comparison"] = answer
    return frame


def _frame_with(rows: list[dict[str, Any]], whole: dict[str, Any], name: str) -> Any:
    """Rows as a DataFrame indexed by feature, the whole answer in ``.attrs``."""
    import pandas as pd

    frame = pd.DataFrame(rows).set_index("feature")
    frame.attrs[name] = whole
    return frame


def jobs_frame(records: list[JobRecord]) -> Any:
    """Jobs, newest first: id, kind, state, progress, times, labels."""
    import pandas as pd

    rows = []
    for record in records:
        rows.append(
            {
                "jobId": record.job_id,
                "kind": record.kind,
                "state": record.state,
                "progress": record.progress_text(),
                "createTime": record.create_time,
                "startTime": record.start_time,
                "endTime": record.end_time,
                "errorMessage": record.error_message or "",
                "labels": dict(record.labels),
            }
        )
    columns = ["jobId", "kind", "state", "progress", "createTime", "startTime", "endTime"]
    return pd.DataFrame(rows, columns=[*columns, "errorMessage", "labels"])


def models_frame(records: list[ModelRecord]) -> Any:
    """Models: name, default version, description, labels."""
    import pandas as pd

    rows = [
        {
            "name": r.name,
            "defaultVersion": r.default_version.name if r.default_version else None,
            "description": r.description,
            "labels": dict(r.labels),
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=["name", "defaultVersion", "description", "labels"])


def versions_frame(records: list[VersionRecord], state: Any = None) -> Any:
    """Versions, oldest first: name, state, framework, default, created,
    origin, and the headline figures of each one's newest evaluation."""
    import pandas as pd

    latest = state.engine.latest_evaluations(project=records[0].project) if state and records else {}
    rows = []
    for r in records:
        newest = latest.get((r.model, r.name))
        rows.append(
            {
                "name": r.name,
                "state": r.state,
                "framework": r.framework,
                "isDefault": r.is_default,
                "createTime": r.create_time,
                "deploymentUri": r.deployment_uri,
                "errorMessage": r.error_message or "",
                "evaluation": (
                    ", ".join(f"{k} {v:.4g}" for k, v in newest.headline.items()) + f" ({newest.dataset})"
                    if newest
                    else ""
                ),
            }
        )
    columns = [
        "name",
        "state",
        "framework",
        "isDefault",
        "createTime",
        "deploymentUri",
        "errorMessage",
        "evaluation",
    ]
    return pd.DataFrame(rows, columns=columns)


# Commands whose answer (a dict) a magic returns as a DataFrame.
_ANSWER_FRAMES: dict[tuple[str, ...], Any] = {
    ("monitor", "drift"): lambda answer: _frame_with(drift_rows(answer), answer, "drift"),
    ("monitor", "describe"): lambda answer: _frame_with(profile_rows(answer), answer, "profile"),
    ("dataset", "describe"): lambda answer: _frame_with(profile_rows(answer), answer, "profile"),
    ("compare",): comparison_frame,
    ("models", "compare"): comparison_frame,
}
