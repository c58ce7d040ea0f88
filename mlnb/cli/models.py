"""``mlnb models ...``: create, list, describe, update, delete, history."""

from __future__ import annotations

import json
from typing import Any

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import comma_list, list_options, merged_labels, parse_labels, selected
from mlnb.errors import NotFound
from mlnb.records import ModelRecord, parse_time

MODEL_COLUMNS = (("NAME", "name"), ("DEFAULT_VERSION_NAME", "defaultVersionName"))
EVENT_COLUMNS = (
    ("TIME", "time"),
    ("ACTION", "action"),
    ("VERSION", "version"),
    ("ACTOR", "actor"),
    ("DETAILS", "details"),
)


@cli.group()
def models() -> None:
    """Create and manage models."""


@models.command("create")
@click.argument("model")
@click.option("--description", default="", help="A description of the model.")
@click.option("--labels", help="KEY=VALUE,... labels.")
@click.option("--regions", help="Accepted for gcloud compatibility; at most one region.")
@click.option("--enable-logging", is_flag=True, help="Set onlinePredictionLogging.")
@click.option("--enable-console-logging", is_flag=True, help="Set onlinePredictionConsoleLogging.")
@common_options
@pass_state
def create_model(
    state: CliState,
    model: str,
    description: str,
    labels: str | None,
    regions: str | None,
    enable_logging: bool,
    enable_console_logging: bool,
) -> ModelRecord:
    """Create a new model."""
    record = state.engine.create_model(
        model,
        description=description,
        labels=parse_labels(labels),
        regions=regions.split(",") if regions else None,
        online_prediction_logging=enable_logging,
        online_prediction_console_logging=enable_console_logging,
    )
    state.out.changed(f"Created model [{record.name}].", record.to_api())
    return record


@models.command("list")
@list_options
@common_options
@pass_state
def list_models(
    state: CliState, filter_: str | None, sort_by: str | None, limit: int | None, page_size: int | None
) -> list[ModelRecord]:
    """List the project's models."""
    pairs = []
    for record in state.engine.list_models():
        body = record.to_api()
        body["defaultVersionName"] = record.default_version.name if record.default_version else None
        body["name"] = record.name
        pairs.append((record, body))
    kept = selected(pairs, filter_, sort_by, limit)
    state.out.listing([body for _, body in kept], MODEL_COLUMNS)
    return [record for record, _ in kept]


@models.command("describe")
@click.argument("model")
@common_options
@pass_state
def describe_model(state: CliState, model: str) -> ModelRecord:
    """Show a model, its default version, and its latest rollout (mlnb)."""
    record = state.engine.get_model(model)
    body = record.to_api()
    rollouts = state.engine.rollouts(model)
    if rollouts:
        latest = rollouts[0]
        body["rollout"] = {"job": latest.job_id, "state": latest.state.value, "progress": latest.progress}
    state.out.resource(body)
    return record


@models.command("update")
@click.argument("model")
@click.option("--description", default=None, help="A new description.")
@click.option("--update-labels", help="KEY=VALUE,... labels to add or change.")
@click.option("--remove-labels", help="KEY,... labels to remove.")
@click.option("--clear-labels", is_flag=True, help="Remove every label.")
@click.option(
    "--evaluation-gates",
    metavar="GATES",
    help="What a version must show to become the default (mlnb), ';'-separated: "
    "DATASET:METRIC>=VALUE, DATASET:METRIC<=VALUE, DATASET:METRIC>default+MARGIN.",
)
@click.option("--clear-evaluation-gates", is_flag=True, help="Remove the model's evaluation gates.")
@click.option("--notify-webhook", metavar="URL", help="POST the model's events to this URL (mlnb).")
@click.option("--notify-email", metavar="ADDRESSES", help="E-mail its events to these, ','-separated.")
@click.option(
    "--notify-on",
    metavar="EVENTS",
    help="Which events, ','-separated: GATE_REFUSED (the default), DEFAULT_CHANGED, TRAFFIC_CHANGED.",
)
@click.option("--clear-notifications", is_flag=True, help="Tell the host's notify_webhook/notify_email.")
@click.option(
    "--traffic-split",
    metavar="SPLIT",
    help="Share the model's requests among versions (mlnb): VERSION=PERCENT,... adding up to 100.",
)
@click.option("--clear-traffic-split", is_flag=True, help="Give the default version all requests again.")
@click.option(
    "--shadow", metavar="VERSION", help="Send a copy of requests to VERSION, logged, never answering."
)
@click.option(
    "--shadow-percent",
    type=click.IntRange(1, 100),
    default=100,
    show_default=True,
    help="The share of requests --shadow gets.",
)
@click.option("--clear-shadow", is_flag=True, help="Stop shadowing.")
@click.option(
    "--routing-key-field",
    metavar="FIELD",
    help="Route each request by this field of its body, as X-Mlnb-Routing-Key does ('': none).",
)
@common_options
@pass_state
def update_model(
    state: CliState,
    model: str,
    description: str | None,
    update_labels: str | None,
    remove_labels: str | None,
    clear_labels: bool,
    evaluation_gates: str | None,
    clear_evaluation_gates: bool,
    notify_webhook: str | None,
    notify_email: str | None,
    notify_on: str | None,
    clear_notifications: bool,
    traffic_split: str | None,
    clear_traffic_split: bool,
    shadow: str | None,
    shadow_percent: int,
    clear_shadow: bool,
    routing_key_field: str | None,
) -> ModelRecord:
    """Change a model's description, labels, evaluation gates, who hears
    of its events, or how its requests are shared among its versions (a
    traffic split, a shadow)."""
    wants_notifications = notify_webhook or notify_email or notify_on
    if wants_notifications and clear_notifications:
        raise click.UsageError("Give --notify-* or --clear-notifications, not both")
    if traffic_split and clear_traffic_split:
        raise click.UsageError("Give --traffic-split or --clear-traffic-split, not both")
    if shadow and clear_shadow:
        raise click.UsageError("Give --shadow or --clear-shadow, not both")
    # The labels are merged into what was read: the etag of that read
    # refuses the change if someone else changed the model meanwhile.
    record = current = state.engine.get_model(model)
    labels = merged_labels(current.labels, update_labels, remove_labels, clear_labels)
    gates = None
    if clear_evaluation_gates:
        gates = []
    elif evaluation_gates is not None:
        gates = state.engine.evaluation_gates(evaluation_gates)
    notifications: dict[str, Any] | None = {} if clear_notifications else None
    if wants_notifications:
        given = {
            "webhook": notify_webhook,
            "email": comma_list(notify_email),
            "on": [e.upper() for e in comma_list(notify_on)],
        }
        notifications = {key: value for key, value in given.items() if value}
    if description is not None or labels is not None or gates is not None or notifications is not None:
        record = state.engine.update_model(
            model,
            description=description,
            labels=labels,
            etag=current.etag,
            evaluation_gates=gates,
            notifications=notifications,
        )
    if traffic_split or clear_traffic_split:
        split = state.engine.traffic_split(traffic_split) if traffic_split else {}
        record = state.engine.set_traffic_split(model, split)
    if shadow or clear_shadow:
        record = state.engine.set_shadow(model, shadow, percent=shadow_percent)
    if routing_key_field is not None:
        record = state.engine.set_routing_key_field(model, routing_key_field or None)
    state.out.changed(f"Updated model [{record.name}].", record.to_api())
    return record


@models.command("rollout")
@click.argument("model")
@click.option("--canary", required=True, help="The version to roll out.")
@click.option(
    "--steps", default="5,25,50,100", show_default=True, help="The canary's shares, percent, rising to 100."
)
@click.option(
    "--interval", default="10m", show_default=True, help="How long each step is watched: 30s, 10m, 1h."
)
@click.option("--max-error-rate", help="Roll back past this share of failed requests: 1% or 0.01.")
@click.option(
    "--max-p99-ms", type=click.FloatRange(0, min_open=True), help="Roll back past this p99 latency."
)
@click.option(
    "--min-requests",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Requests a step needs before it is judged.",
)
@click.option(
    "--gate",
    "gates",
    metavar="GATES",
    help="Evaluation gates the canary must pass first (as --evaluation-gates).",
)
@click.option("--job", help="The rollout job's id (default: rollout_MODEL_TIME).")
@click.option("--stream-logs", is_flag=True, help="Follow the rollout until it ends.")
@common_options
@pass_state
def rollout_model(
    state: CliState,
    model: str,
    canary: str,
    steps: str,
    interval: str,
    max_error_rate: str | None,
    max_p99_ms: float | None,
    min_requests: int,
    gates: str | None,
    job: str | None,
    stream_logs: bool,
) -> Any:
    """Roll a version out to a model step by step (mlnb): it takes each
    share of the traffic for an interval while its error rate and p99
    latency stay within bounds, rolls back at once past one, and becomes
    the default after the last step. It runs as a job in the job host:
    mlnb jobs describe JOB shows the step and the figures, mlnb jobs
    cancel JOB rolls back."""
    from mlnb.cli.jobs import report_submitted

    try:
        shares = [int(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise click.UsageError(f"--steps takes whole percents: {steps!r}") from None
    record = state.engine.rollout(
        model,
        canary,
        steps=shares,
        interval_s=state.engine.duration(interval),
        max_error_rate=_share(max_error_rate) if max_error_rate else None,
        max_latency_p99_ms=max_p99_ms,
        min_requests=min_requests,
        gates=state.engine.evaluation_gates(gates) if gates else None,
        job_id=job,
    )
    return report_submitted(state, record, stream_logs)


def _share(text: str) -> float:
    """``1%`` or ``0.01`` as 0.01."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.UsageError(f"--max-error-rate takes 1% or 0.01, not {text!r}") from None


@models.command("compare")
@click.argument("model")
@click.option("--version", help="The shadow version (default: every shadow's copies).")
@click.option("--last", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="Copies read.")
@common_options
@pass_state
def compare_shadow(state: CliState, model: str, version: str | None, last: int) -> dict[str, Any]:
    """Where a model's shadow version and the versions that served
    disagree (mlnb): over the shadow's last logged copies, the agreement,
    its errors, and each instance they answered differently."""
    answer = state.engine.shadow_comparison(model, limit=last, version=version)
    if state.out.shows_tables:
        from mlnb.cli.output import table

        rows = [
            {**row, "served": json.dumps(row["served"]), "shadow": json.dumps(row.get("shadow"))}
            for row in answer["disagreements"]
        ]
        columns = [("TIME", "time"), ("SERVED BY", "servedBy"), ("SERVED", "served"),
                   ("SHADOW", "shadowVersion"), ("SHADOW SAID", "shadow"), ("ERROR", "error")]  # fmt: skip
        if rows:
            click.echo(table(rows, columns))
        agreement = answer["agreement"]
        said = f"{agreement:.1%}" if agreement is not None else "nothing to compare"
        click.echo(
            f"{answer['copies']} copies, {answer['instances']} instances: agreement {said}, "
            f"{answer['errors']} shadow errors"
        )
    else:
        state.out.data(answer)
    return answer


@models.command("served")
@click.argument("model")
@click.option("--since", default="1h", show_default=True, help="How far back: 15m, 1h, up to 1d.")
@common_options
@pass_state
def served(state: CliState, model: str, since: str) -> dict[str, Any]:
    """What each version of MODEL answered lately, counted by every server
    and notebook that serves it (mlnb): requests, failed ones, p99."""
    answer = state.engine.served(model, since=since)
    if state.out.shows_tables:
        rows = [{"version": name, **figures} for name, figures in answer["versions"].items()]
        if len(rows) > 1:
            rows.append({"version": "(all)", **answer["total"]})
        for row in rows:
            row["errorRate"] = f"{row['errorRate']:.2%}"
            row["latencyP99Ms"] = "" if row["latencyP99Ms"] is None else f"{row['latencyP99Ms']:.2f}"
        columns = (("VERSION", "version"), ("REQUESTS", "requests"), ("FAILED", "errors"),
                   ("ERROR_RATE", "errorRate"), ("P99_MS", "latencyP99Ms"))  # fmt: skip
        if rows:
            state.out.listing(rows, columns)
        else:
            click.echo(f"Model [{model}] answered no request since {answer['since']}.")
    else:
        state.out.data(answer)
    return answer


@models.command("alias")
@click.argument("model")
@click.argument("alias")
@click.option("--version", help="The version the alias names (it may name another now).")
@click.option("--remove", is_flag=True, help="Remove the alias.")
@common_options
@pass_state
def alias_model(state: CliState, model: str, alias: str, version: str | None, remove: bool) -> ModelRecord:
    """Point an alias (champion, challenger) at a version, or remove it
    (mlnb). @ALIAS then names the version wherever a version name is
    taken: --version @champion, models/M/versions/@champion:predict."""
    if bool(version) == remove:
        raise click.UsageError("Give --version VERSION, or --remove")
    record = state.engine.set_alias(model, alias, None if remove else version)
    alias = alias.removeprefix("@")
    said = f"Removed @{alias} of" if remove else f"Pointed @{alias} at version [{version}] of"
    state.out.changed(f"{said} model [{record.name}].", record.to_api())
    return record


@models.command("delete")
@click.argument("model")
@click.option(
    "--with-versions", is_flag=True, help="Delete its versions (and their stored files) first (mlnb)."
)
@click.option(
    "--ignore-not-found", is_flag=True, help="Succeed when there is no such model, as kubectl does (mlnb)."
)
@common_options
@pass_state
def delete_model(state: CliState, model: str, with_versions: bool, ignore_not_found: bool) -> None:
    """Delete a model that has no versions (or, --with-versions, its versions too).

    A notebook that deploys a model can start with
    `%ml models delete MODEL --with-versions --ignore-not-found`, so that
    running it again starts from scratch.
    """
    try:
        state.engine.delete_model(model, with_versions=with_versions)
    except NotFound:
        if not ignore_not_found:
            raise
        click.echo(f"No model [{model}]: nothing to delete.")
        return
    click.echo(f"Deleted model [{model}].")


@models.command("history")
@click.argument("model")
@click.option("--at", "at", help="Only say which version was the default at this ISO time.")
@common_options
@pass_state
def model_history(state: CliState, model: str, at: str | None) -> Any:
    """Every change to a model: versions, default, labels, with time and actor."""
    if at is not None:
        when = parse_time(at, "--at")
        default = state.engine.default_version_at(model, when)
        if state.out.shows_tables or state.out.returns_objects:
            click.echo(default or f"(model {model} had no default version at {at})")
        else:
            state.out.data({"model": model, "time": at, "defaultVersion": default})
        return default
    events = [event.to_api() for event in state.engine.model_history(model)]
    state.out.listing(events, EVENT_COLUMNS)
    return events


@models.command("prediction-log")
@click.argument("model")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100000))
@common_options
@pass_state
def prediction_log(state: CliState, model: str, limit: int) -> list[dict[str, Any]]:
    """Requests and responses logged for a model created with --enable-logging."""
    entries = state.engine.prediction_log(model, limit=limit)
    if state.out.shows_tables:
        columns = (("TIME", "time"), ("VERSION", "version"), ("INSTANCES", "count"), ("RESULT", "result"))
        rows = [
            {
                "time": e["time"],
                "version": e["version"],
                "count": len(e["instances"]) if isinstance(e["instances"], list) else "",
                "result": f"error: {e['error']}" if "error" in e else json.dumps(e["predictions"])[:60],
            }
            for e in entries
        ]
        state.out.listing(rows, columns)
    else:
        state.out.data(entries)
    return entries
