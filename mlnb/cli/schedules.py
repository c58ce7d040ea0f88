"""``mlnb schedules``: job templates run on a cron or an interval by the
job hosts (mlnb's own)."""

from __future__ import annotations

from typing import Any

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.jobs import JOB_COLUMNS, read_yaml_object
from mlnb.cli.output import list_options, parse_labels, selected, table
from mlnb.errors import InvalidArgument
from mlnb.records import JobRecord, ScheduleRecord

SCHEDULE_COLUMNS = (
    ("NAME", "schedule"),
    ("STATE", "state"),
    ("CADENCE", "cadence"),
    ("NEXT_RUN", "nextRunTime"),
    ("LAST_RUN", "lastRunTime"),
    ("RUNS", "runCount"),
)
RUN_COLUMNS = (("JOB_ID", "jobId"), ("STATUS", "state"), ("DUE", "runTime"), ("ERROR", "errorMessage"))
_MISSED = click.Choice(["run-once", "skip"], case_sensitive=False)


@cli.group()
def schedules() -> None:
    """Run a job on a cron or an interval (mlnb)."""


def schedule_options(func: Any) -> Any:
    """The flags that set a schedule's own fields, on create and update."""
    options = [
        click.option("--cron", help="Five cron fields, such as '0 2 * * *' (in --time-zone)."),
        click.option("--every", "interval", help="An interval instead of a cron: 30m, 6h, 1d."),
        click.option("--time-zone", help="The IANA zone of the cron and of formatted times (UTC)."),
        click.option("--start", "start_time", help="No run before this RFC 3339 time."),
        click.option("--end", "end_time", help="No run after this RFC 3339 time; then it ends."),
        click.option("--max-runs", type=click.IntRange(min=1), help="End after this many runs."),
        click.option(
            "--max-concurrent-runs",
            type=click.IntRange(1, 100),
            help="Skip a run due while this many still run (1).",
        ),
        click.option(
            "--missed-runs", type=_MISSED, help="A run found late (no host ran): run it once, or skip it."
        ),
        click.option("--missed-after", help="How late a run may be found and still be on time (60s)."),
        click.option(
            "--input-wait",
            help="How long a run whose batch input matches no file yet waits for it (none: refused).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _schedule_fields(given: dict[str, Any]) -> dict[str, Any]:
    names = {
        "cron": "cron",
        "interval": "interval",
        "time_zone": "timeZone",
        "start_time": "startTime",
        "end_time": "endTime",
        "max_runs": "maxRuns",
        "max_concurrent_runs": "maxConcurrentRuns",
        "missed_runs": "missedRuns",
        "missed_after": "missedAfter",
        "input_wait": "inputWait",
    }
    fields = {names[k]: v for k, v in given.items() if k in names and v is not None}
    if "missedRuns" in fields:
        fields["missedRuns"] = str(fields["missedRuns"]).upper().replace("-", "_")
    return fields


def read_schedule_config(path: str | None) -> dict[str, Any]:
    """A schedule body from ``--config``: a whole schedule (with its
    ``jobTemplate``), or only the Job body it runs.

    Raises:
        InvalidArgument: Not YAML, or no mapping.
    """
    data = read_yaml_object(path, "--config")
    if not data or "jobTemplate" in data:
        return data
    return {"jobTemplate": data}


@schedules.command("create")
@click.argument("name")
@click.option(
    "--config",
    "config_path",
    required=True,
    help="YAML: the Job body each run submits (trainingInput, predictionInput, notebookInput, or "
    "jobKind and jobInput), or a whole schedule with its jobTemplate; '-' reads stdin.",
)
@schedule_options
@click.option("--description")
@click.option("--labels", help="KEY=VALUE,... the schedule's labels.")
@common_options
@pass_state
def create(
    state: CliState, name: str, config_path: str, description: str | None, labels: str | None, **given: Any
) -> ScheduleRecord:
    """Make a schedule: the job hosts submit its job at each due time, named
    NAME_YYYYmmdd_HHMMSS; strings of the job may hold {{ run_time }},
    {{ last_success_time }} (| %Y-%m-%d for a format), {{ run_number }}."""
    body = {**read_schedule_config(config_path), **_schedule_fields(given)}
    if description is not None:
        body["description"] = description
    record = state.engine.create_schedule(name, body, labels=parse_labels(labels) or None)
    next_run = record.to_api().get("nextRunTime", "never")
    state.out.changed(f"Created schedule [{name}]; its next run is due {next_run}.", record.to_api())
    return record


@schedules.command("update")
@click.argument("name")
@click.option("--config", "config_path", help="YAML: a new job template (or a schedule holding one).")
@schedule_options
@click.option("--description")
@common_options
@pass_state
def update(
    state: CliState, name: str, config_path: str | None, description: str | None, **given: Any
) -> ScheduleRecord:
    """Change a schedule's cadence, bounds, rules or job template."""
    body = {**read_schedule_config(config_path), **_schedule_fields(given)}
    if description is not None:
        body["description"] = description
    if not body:
        raise InvalidArgument("Nothing to update: give --cron, --every, --config or another flag")
    record = state.engine.update_schedule(name, body, list(body))
    state.out.changed(f"Updated schedule [{name}].", record.to_api())
    return record


@schedules.command("list")
@click.option("--model", help="Only the schedules of batch prediction jobs that predict with MODEL.")
@list_options
@common_options
@pass_state
def list_schedules(
    state: CliState,
    model: str | None,
    filter_: str | None,
    sort_by: str | None,
    limit: int | None,
    page_size: int | None,
) -> list[ScheduleRecord]:
    """List the project's schedules."""
    records = state.engine.list_schedules(model=model)
    kept = selected([(r, _row(r)) for r in records], filter_, sort_by, limit)
    state.out.listing([body for _, body in kept], SCHEDULE_COLUMNS)
    return [record for record, _ in kept]


@schedules.command("describe")
@click.argument("name")
@click.option("--runs", type=click.IntRange(min=1), default=10, show_default=True, help="Runs to show.")
@common_options
@pass_state
def describe(state: CliState, name: str, runs: int) -> ScheduleRecord:
    """Show a schedule and its newest runs, with their jobs' states."""
    record = state.engine.get_schedule(name)
    state.out.resource(record.to_api())
    if state.out.shows_tables and runs > len(record.recent_runs):
        listed = state.engine.schedule_runs(name, limit=runs)
        click.echo("\nRuns, newest first:")
        click.echo(table([run.to_api() for run in listed], RUN_COLUMNS))
    return record


@schedules.command("pause")
@click.argument("name")
@common_options
@pass_state
def pause(state: CliState, name: str) -> ScheduleRecord:
    """Stop firing a schedule's runs until it is resumed."""
    record = state.engine.pause_schedule(name)
    state.out.changed(f"Paused schedule [{name}].", record.to_api())
    return record


@schedules.command("resume")
@click.argument("name")
@common_options
@pass_state
def resume(state: CliState, name: str) -> ScheduleRecord:
    """Fire a paused schedule again, from its first due time from now."""
    record = state.engine.resume_schedule(name)
    next_run = record.to_api().get("nextRunTime", "never")
    state.out.changed(f"Resumed schedule [{name}]; its next run is due {next_run}.", record.to_api())
    return record


@schedules.command("run")
@click.argument("name")
@common_options
@pass_state
def run(state: CliState, name: str) -> JobRecord:
    """Run a schedule's job now, beside its cadence."""
    job = state.engine.run_schedule(name)
    state.out.changed(f"Submitted job [{job.job_id}] from schedule [{name}].", job.to_api())
    if state.out.shows_tables:
        click.echo(table([job.to_api()], JOB_COLUMNS))
    return job


@schedules.command("delete")
@click.argument("name")
@common_options
@pass_state
def delete(state: CliState, name: str) -> None:
    """Delete a schedule and its run history (its jobs stay)."""
    state.engine.delete_schedule(name)
    state.out.changed(f"Deleted schedule [{name}].", {})


def _row(record: ScheduleRecord) -> dict[str, Any]:
    return {**record.to_api(), "schedule": record.name, "cadence": record.cadence}
