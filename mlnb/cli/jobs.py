"""``mlnb jobs ...``: submit training, describe, list, update, cancel, stream-logs, wait."""

from __future__ import annotations

from typing import Any

import click
import yaml

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import merged_labels, parse_labels, selected, yaml_mapping
from mlnb.errors import InvalidArgument
from mlnb.records import JobRecord
from mlnb.states import JobKind, JobState

JOB_COLUMNS = (("JOB_ID", "jobId"), ("STATUS", "state"), ("CREATED", "createTime"))


@cli.group()
def jobs() -> None:
    """Submit and manage jobs."""


def parse_parameter(value: str) -> Any:
    """A ``-p NAME VALUE`` value as papermill reads it: a number, a boolean,
    null, or else the string itself."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return parsed if isinstance(parsed, int | float | bool) or parsed is None else value


class SubmitGroup(click.Group):
    """``jobs submit``: the built-in kinds are its commands; any other name
    is a job kind from a plug-in, submitted with its input from a file."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # A name that is no kind at all is the Engine's to refuse, with the
        # kinds there are ("This mlnb cannot run ... jobs; it runs: ...").
        return super().get_command(ctx, cmd_name) or _plugin_kind_command(cmd_name)


@jobs.group(cls=SubmitGroup)
def submit() -> None:
    """Submit a job: training, prediction, notebook, or KIND (a job kind
    from a plug-in: mlnb jobs submit KIND JOB --input FILE)."""


def _plugin_kind_command(kind: str) -> click.Command:
    @click.command(kind)
    @click.argument("job")
    @click.option(
        "--input", "--config", "input_path", help="The job's input: a YAML or JSON object (-: stdin)."
    )
    @click.option("--labels", help="KEY=VALUE,... labels.")
    @click.option("--cluster", help="A Dask scheduler (tcp://host:8786) for the kind to run on.")
    @click.option("--stream-logs", is_flag=True, help="Follow the job's logs until it ends.")
    @common_options
    @pass_state
    def submit_kind(
        state: CliState,
        job: str,
        input_path: str | None,
        labels: str | None,
        cluster: str | None,
        stream_logs: bool,
    ) -> JobRecord:
        return submit_kind_input(
            state,
            job,
            kind,
            read_yaml_object(input_path, "--input"),
            labels=labels,
            cluster=cluster,
            stream_logs=stream_logs,
        )

    submit_kind.help = f"Submit a {kind} job, its input (jobInput) from --input (or --config)."
    return submit_kind


def submit_kind_input(
    state: CliState,
    job: str,
    kind: str,
    job_input: dict[str, Any],
    *,
    labels: str | None,
    cluster: str | None,
    stream_logs: bool,
) -> JobRecord:
    """``jobs submit KIND``'s act, for an input read from a file or handed
    over by a magic."""
    record = state.engine.submit_job(job, kind, job_input, labels=parse_labels(labels), cluster=cluster)
    return report_submitted(state, record, stream_logs)


def read_yaml_object(path: str | None, option: str) -> dict[str, Any]:
    """The mapping in a YAML (or JSON) file named by ``option`` (``-``: stdin);
    ``{}`` without one.

    Raises:
        InvalidArgument: The file is not YAML, or holds no mapping.
    """
    if path is None:
        return {}
    with click.open_file(path, "r") as f:
        return yaml_mapping(f.read(), f"{option} {path}")


def read_config(path: str | None) -> dict[str, Any]:
    """The ``trainingInput`` of an ML Engine YAML config file (``-``: stdin).

    Raises:
        InvalidArgument: The file is not YAML or has no trainingInput mapping.
    """
    data = read_yaml_object(path, "--config")
    if not isinstance(data.get("trainingInput", {}), dict):
        raise InvalidArgument(f"--config {path} must be a mapping with a 'trainingInput' mapping")
    return dict(data.get("trainingInput") or {})


def machine_options(func: Any) -> Any:
    """gcloud's flags for a custom tier's machines, and those that name
    cloud places (accepted; they change nothing here)."""
    options = [
        click.option("--master-machine-type", help="trainingInput.masterType (sets --scale-tier CUSTOM)."),
        click.option("--master-accelerator", help="count=N,type=T: the master's GPUs."),
        click.option("--worker-machine-type", help="trainingInput.workerType."),
        click.option("--worker-accelerator", help="count=N,type=T: each worker's GPUs."),
        click.option("--worker-count", type=click.IntRange(min=0), help="trainingInput.workerCount."),
        click.option("--parameter-server-machine-type", help="trainingInput.parameterServerType."),
        click.option("--parameter-server-accelerator", help="count=N,type=T: each parameter server's GPUs."),
        click.option(
            "--parameter-server-count", type=click.IntRange(min=0), help="trainingInput.parameterServerCount."
        ),
        click.option(
            "--staging-bucket", help="gcloud's: packages are staged in mlnb's artifact store instead."
        ),
        click.option(
            "--async",
            "run_async",
            is_flag=True,
            help="gcloud's: a submission returns at once unless --stream-logs.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def machine_fields(
    master_machine_type: str | None = None,
    master_accelerator: str | None = None,
    worker_machine_type: str | None = None,
    worker_accelerator: str | None = None,
    worker_count: int | None = None,
    parameter_server_machine_type: str | None = None,
    parameter_server_accelerator: str | None = None,
    parameter_server_count: int | None = None,
    staging_bucket: str | None = None,
    run_async: bool = False,
) -> dict[str, Any]:
    """The ``trainingInput`` fields that ``machine_options`` set."""
    fields: dict[str, Any] = {
        "masterType": master_machine_type,
        "workerType": worker_machine_type,
        "workerCount": worker_count,
        "parameterServerType": parameter_server_machine_type,
        "parameterServerCount": parameter_server_count,
    }
    for key, text, flag in (
        ("masterConfig", master_accelerator, "--master-accelerator"),
        ("workerConfig", worker_accelerator, "--worker-accelerator"),
        ("parameterServerConfig", parameter_server_accelerator, "--parameter-server-accelerator"),
    ):
        if text:
            fields[key] = {"acceleratorConfig": parse_accelerator(text, flag)}
    return {k: v for k, v in fields.items() if v is not None}


def parse_accelerator(text: str, flag: str) -> dict[str, Any]:
    """gcloud's ``count=2,type=nvidia-tesla-t4`` as an ``acceleratorConfig``.

    Raises:
        InvalidArgument: Another shape, or a count that is no whole number.
    """
    parts = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
    if set(parts) - {"count", "type"} or "type" not in parts:
        raise InvalidArgument(f"{flag} takes count=N,type=TYPE (nvidia-tesla-t4...), got {text!r}")
    try:
        count = int(parts.get("count", "1"))
    except ValueError:
        raise InvalidArgument(f"{flag}: count must be a whole number, got {parts['count']!r}") from None
    return {"count": count, "type": parts["type"].upper().replace("-", "_")}


@submit.command("training", context_settings={"ignore_unknown_options": False})
@click.argument("job")
@click.option("--package-path", help="The trainer package folder (trainer/, with __init__.py).")
@click.option("--module-name", help="The module to run, as python -m runs it (trainer.task).")
@click.option("--packages", help="Comma-separated built archives to install too.")
@click.option("--job-dir", help="Passed to the trainer as --job-dir: checkpoints and exports go there.")
@click.option("--scale-tier", help="BASIC, STANDARD_1, PREMIUM_1, BASIC_GPU, BASIC_TPU or CUSTOM.")
@click.option("--config", "config_path", help="ML Engine YAML with trainingInput; flags override it.")
@click.option("--labels", help="KEY=VALUE,... labels.")
@click.option("--stream-logs", is_flag=True, help="Follow the job's logs until it ends.")
@click.option("--runtime-version", help="Recorded as runtimeVersion.")
@click.option("--cluster", help="A Dask scheduler (tcp://host:8786) to run the replicas on.")
@click.option("--python-version", help="Recorded as pythonVersion.")
@machine_options
@click.argument("user_args", nargs=-1, type=click.UNPROCESSED)
@common_options
@pass_state
def submit_training(
    state: CliState,
    job: str,
    package_path: str | None,
    module_name: str | None,
    packages: str | None,
    job_dir: str | None,
    scale_tier: str | None,
    config_path: str | None,
    labels: str | None,
    stream_logs: bool,
    runtime_version: str | None,
    python_version: str | None,
    cluster: str | None,
    user_args: tuple[str, ...],
    **machines: Any,
) -> JobRecord:
    """Submit a training job. Arguments after -- go to the trainer."""
    return submit_training_input(
        state,
        job,
        read_config(config_path),
        package_path=package_path,
        module_name=module_name,
        packages=packages,
        job_dir=job_dir,
        scale_tier=scale_tier,
        labels=labels,
        stream_logs=stream_logs,
        runtime_version=runtime_version,
        python_version=python_version,
        cluster=cluster,
        user_args=user_args,
        **machines,
    )


def submit_training_input(
    state: CliState,
    job: str,
    training_input: dict[str, Any],
    *,
    package_path: str | None,
    module_name: str | None,
    packages: str | None,
    job_dir: str | None,
    scale_tier: str | None,
    labels: str | None,
    stream_logs: bool,
    runtime_version: str | None,
    python_version: str | None,
    cluster: str | None,
    user_args: tuple[str, ...],
    **machines: Any,
) -> JobRecord:
    """``jobs submit training``'s act, for a ``trainingInput`` read from
    ``--config`` or handed over by a magic; the flags override its keys."""
    spec = dict(training_input) | machine_fields(**machines)
    if spec.get("masterType") and not scale_tier and not spec.get("scaleTier"):
        scale_tier = "CUSTOM"  # machine types mean a custom tier, as in gcloud
    for key, value in (
        ("region", state.region),
        ("runtimeVersion", runtime_version),
        ("pythonVersion", python_version),
    ):
        if value:
            spec[key] = value
    record = state.engine.submit_training_job(
        job,
        spec,
        package_path=package_path,
        module_name=module_name,
        packages=[p for p in (packages or "").split(",") if p],
        job_dir=job_dir,
        scale_tier=scale_tier,
        args=list(user_args) if user_args else None,
        labels=parse_labels(labels),
        cluster=cluster,
    )
    return report_submitted(state, record, stream_logs)


@submit.command("notebook")
@click.argument("job")
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter for the notebook's parameters cell (repeatable).",
)
@click.option("--kernel", help="A Jupyter kernel name; the notebook's own by default.")
@click.option("--scale-tier", help="A tier whose configured kernel runs the notebook.")
@click.option("--cluster", help="A Dask scheduler (tcp://host:8786) to run the notebook on.")
@click.option("--job-dir", help="Where a copy of the executed notebook goes.")
@click.option("--labels", help="KEY=VALUE,... labels.")
@click.option("--stream-logs", is_flag=True, help="Follow the job's logs until it ends.")
@common_options
@pass_state
def submit_notebook(
    state: CliState,
    job: str,
    notebook: str,
    parameters: tuple[tuple[str, str], ...],
    kernel: str | None,
    scale_tier: str | None,
    cluster: str | None,
    job_dir: str | None,
    labels: str | None,
    stream_logs: bool,
) -> JobRecord:
    """Run a notebook as a job with papermill."""
    record = state.engine.submit_notebook_job(
        job,
        notebook,
        parameters={name: parse_parameter(value) for name, value in parameters},
        kernel=kernel,
        scale_tier=scale_tier,
        job_dir=job_dir,
        labels=parse_labels(labels),
        cluster=cluster,
    )
    return report_submitted(state, record, stream_logs)


def report_submitted(state: CliState, record: JobRecord, stream_logs: bool) -> JobRecord:
    """Say what was submitted (or why it failed), and follow it if asked."""
    if record.state == JobState.FAILED:
        raise click.ClickException(f"job {record.job_id} FAILED: {record.error_message}")
    state.out.changed(
        f"Job [{record.job_id}] submitted successfully.\n"
        f"Your job is {record.state}. Follow it with: {state.program} jobs stream-logs {record.job_id}",
        record.to_api(),
    )
    if stream_logs:
        return follow_logs(state, record.job_id)
    return record


def follow_logs(state: CliState, job_id: str) -> JobRecord:
    for entry in state.engine.job_logs(job_id, follow=True):
        click.echo(entry.format())
    job = state.engine.get_job(job_id)
    click.echo(f"Job [{job_id}] ended {job.state}.")
    if job.state == JobState.FAILED:
        raise click.ClickException(f"job {job_id} FAILED: {job.error_message}")
    return job


@jobs.command("describe")
@click.argument("job")
@common_options
@pass_state
def describe_job(state: CliState, job: str) -> JobRecord:
    """Show a job (and a tuning job's trials, best first)."""
    record = state.engine.get_job(job)
    state.out.resource(record.to_api())
    if record.kind == JobKind.TUNING and state.out.shows_tables:
        trials = state.engine.trials(job)
        if len(trials):
            click.echo("\nTrials, best first:")
            click.echo(trials.drop(columns=["startTime", "endTime"]).to_string(index=False))
    return record


@jobs.command("list")
@click.option("--filter", "filters", multiple=True, help="state=RUNNING, labels.KEY=VALUE (repeatable).")
@click.option("--limit", type=int, help="Show at most this many jobs (newest first).")
@click.option("--sort-by", help="Fields to sort by, comma-separated; ~FIELD sorts descending.")
@click.option("--page-size", type=click.IntRange(min=1), help="gcloud's: mlnb reads a list in one page.")
@common_options
@pass_state
def list_jobs(
    state: CliState, filters: tuple[str, ...], limit: int | None, sort_by: str | None, page_size: int | None
) -> list[JobRecord]:
    """List jobs, newest first."""
    states: list[str] = []
    labels: dict[str, str] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--filter")
        if key.lower() == "state":
            states.extend(v.strip().upper() for v in value.split(","))
        elif key.startswith("labels."):
            labels[key[len("labels.") :]] = value.strip()
        else:
            raise click.BadParameter(
                f"cannot filter on {key!r}: use state or labels.KEY", param_hint="--filter"
            )
    records = state.engine.list_jobs(states=states or None, labels=labels or None)
    kept = selected([(r, r.to_api()) for r in records], None, sort_by, limit)
    state.out.listing([body for _, body in kept], JOB_COLUMNS)
    return [record for record, _ in kept]


@jobs.command("update")
@click.argument("job")
@click.option("--update-labels", help="KEY=VALUE,... labels to add or change.")
@click.option("--remove-labels", help="KEY,... labels to remove.")
@click.option("--clear-labels", is_flag=True, help="Remove every label.")
@common_options
@pass_state
def update_job(
    state: CliState, job: str, update_labels: str | None, remove_labels: str | None, clear_labels: bool
) -> JobRecord:
    """Change a job's labels."""
    current = state.engine.get_job(job)
    labels = merged_labels(dict(current.labels), update_labels, remove_labels, clear_labels)
    if labels is None:
        raise click.UsageError("Say what to change: --update-labels, --remove-labels or --clear-labels")
    record = state.engine.update_job(job, labels=labels, etag=current.etag)
    state.out.changed(f"Updated job [{record.job_id}].", record.to_api())
    return record


@jobs.command("cancel")
@click.argument("job")
@common_options
@pass_state
def cancel_job(state: CliState, job: str) -> JobRecord:
    """Cancel a job."""
    record = state.engine.cancel_job(job)
    click.echo(f"Cancelled job [{job}]: {record.state}.")
    return record


@jobs.command("host")
@click.option("--max-jobs", type=int, help="The most jobs this host holds at once (MLNB_HOST_MAX_JOBS).")
@click.option(
    "--drain-s",
    type=click.FloatRange(min=0),
    help="Once stopped, let running jobs finish this long before stopping them (MLNB_HOST_DRAIN_S).",
)
@common_options
@pass_state
def job_host(state: CliState, max_jobs: int | None, drain_s: float | None) -> None:
    """Run a job service here until stopped (Ctrl-C, SIGTERM).

    It takes the jobs that any machine sharing the database submits with
    MLNB_JOB_HOST=service, and this machine's own, each under a lease: if
    this host dies, another ends its jobs once their leases run out. When
    stopped it takes no new job and hands back those not started; with
    --drain-s it lets the running ones finish that long first (stop it
    again to stop them at once).
    """
    state.engine.serve_jobs(max_jobs=max_jobs, drain_s=drain_s)


@jobs.command("stream-logs")
@click.argument("job")
@common_options
@pass_state
def stream_logs(state: CliState, job: str) -> JobRecord:
    """Print a job's logs and follow them until it ends."""
    return follow_logs(state, job)


@jobs.command("logs")
@click.argument("job")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N lines.")
@common_options
@pass_state
def job_logs(state: CliState, job: str, tail: int | None) -> list[str]:
    """Print a job's logs so far (stream-logs follows them)."""
    lines = [entry.format() for entry in state.engine.job_logs(job)]
    lines = lines[-tail:] if tail else lines
    state.out.lines(lines)
    return lines


@jobs.command("wait")
@click.argument("job")
@click.option("--timeout", type=float, help="Give up after this many seconds.")
@common_options
@pass_state
def wait_job(state: CliState, job: str, timeout: float | None) -> JobRecord:
    """Wait for a job to end; exit 1 unless it SUCCEEDED. In a notebook the
    job's handle comes back whatever its end, with the reason it failed."""
    record = state.engine.wait_job(job, timeout=timeout)
    state.out.resource(record.to_api())
    if record.state != JobState.SUCCEEDED:
        ended = f"job {job} ended {record.state}" + (
            f": {record.error_message}" if record.error_message else ""
        )
        if not state.out.returns_objects:
            raise click.ClickException(ended)
        click.echo(ended[0].upper() + ended[1:], err=True)
    return record
