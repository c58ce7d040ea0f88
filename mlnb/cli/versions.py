"""``mlnb versions ...``: create, list, describe, update, set-default, delete."""

from __future__ import annotations

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import emit, merged_labels, parse_labels

VERSION_COLUMNS = (
    ("NAME", "shortName"),
    ("DEPLOYMENT_URI", "deploymentUri"),
    ("STATE", "state"),
    ("FRAMEWORK", "framework"),
    ("DEFAULT", "isDefault"),
    ("CREATED", "createTime"),
)


@cli.group()
def versions() -> None:
    """Create and manage model versions."""


@versions.command("create")
@click.argument("version")
@click.option("--model", required=True, help="The model to add the version to.")
@click.option("--origin", required=True, help="Folder (or file, or fsspec URL) of model files.")
@click.option("--framework", help="scikit-learn, xgboost, tensorflow, or a plugin's name; detected if unset.")
@click.option("--description", default="", help="A description of the version.")
@click.option("--labels", help="KEY=VALUE,... labels.")
@click.option("--runtime-version", help="Recorded as runtimeVersion.")
@click.option("--python-version", help="Recorded as pythonVersion.")
@click.option("--prediction-class", help="module.Class of a custom prediction routine.")
@click.option("--package-uris", help="Comma-separated packages holding the prediction class.")
@click.option("--machine-type", help="Recorded as machineType.")
@click.option(
    "--min-nodes",
    type=click.IntRange(min=0),
    help="autoScaling.minNodes: how many worker processes of a server keep the version loaded.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    help="The most instances a server predicts in one model call for this version.",
)
@click.option(
    "--max-batch-wait-ms",
    type=click.FloatRange(min=0),
    help="How long a request may wait for others to share its model call (default 0).",
)
@common_options
@pass_state
def create_version(
    state: CliState,
    version: str,
    model: str,
    origin: str,
    framework: str | None,
    description: str,
    labels: str | None,
    runtime_version: str | None,
    python_version: str | None,
    prediction_class: str | None,
    package_uris: str | None,
    machine_type: str | None,
    min_nodes: int | None,
    max_batch_size: int | None,
    max_batch_wait_ms: float | None,
) -> None:
    """Create a version from model files, and load it once to check it."""
    batching: dict[str, float] = {}
    if max_batch_size is not None:
        batching["maxBatchSize"] = max_batch_size
    if max_batch_wait_ms is not None:
        batching["maxWaitMs"] = max_batch_wait_ms
    if state.format == "table":
        click.echo(f"Creating version [{version}] of model [{model}] from {origin} ...", err=True)
    record = state.engine.create_version(
        model,
        version,
        origin,
        framework=framework,
        description=description,
        labels=parse_labels(labels),
        runtime_version=runtime_version,
        python_version=python_version,
        prediction_class=prediction_class,
        package_uris=[p for p in (package_uris or "").split(",") if p],
        machine_type=machine_type,
        auto_scaling={"minNodes": min_nodes} if min_nodes is not None else None,
        batching=batching or None,
    )
    if state.format != "table":
        emit(record.to_api(), state.format)
    elif record.state == "READY":
        default = " (the model's default)" if record.is_default else ""
        click.echo(f"Created version [{record.name}] of model [{model}]: {record.framework}{default}.")
    if record.state == "FAILED":
        raise click.ClickException(f"version {version} FAILED: {record.error_message}")


@versions.command("list")
@click.option("--model", required=True)
@common_options
@pass_state
def list_versions(state: CliState, model: str) -> None:
    """List a model's versions."""
    rows = []
    for record in state.engine.list_versions(model):
        rows.append(record.to_api() | {"shortName": record.name})
    emit(rows, state.format, VERSION_COLUMNS)


@versions.command("describe")
@click.argument("version")
@click.option("--model", required=True)
@common_options
@pass_state
def describe_version(state: CliState, version: str, model: str) -> None:
    """Show one version."""
    record = state.engine.get_version(model, version)
    emit(record.to_api(), "json" if state.format == "json" else "yaml")


@versions.command("update")
@click.argument("version")
@click.option("--model", required=True)
@click.option("--description", default=None)
@click.option("--update-labels", help="KEY=VALUE,... labels to add or change.")
@click.option("--remove-labels", help="KEY,... labels to remove.")
@click.option("--clear-labels", is_flag=True)
@common_options
@pass_state
def update_version(
    state: CliState,
    version: str,
    model: str,
    description: str | None,
    update_labels: str | None,
    remove_labels: str | None,
    clear_labels: bool,
) -> None:
    """Change a version's description or labels."""
    current = state.engine.get_version(model, version).labels
    labels = merged_labels(current, update_labels, remove_labels, clear_labels)
    record = state.engine.update_version(model, version, description=description, labels=labels)
    if state.format == "table":
        click.echo(f"Updated version [{record.name}] of model [{model}].")
    else:
        emit(record.to_api(), state.format)


@versions.command("set-default")
@click.argument("version")
@click.option("--model", required=True)
@common_options
@pass_state
def set_default(state: CliState, version: str, model: str) -> None:
    """Make a version the model's default."""
    record = state.engine.set_default_version(model, version)
    if state.format == "table":
        click.echo(f"Version [{record.name}] is now the default of model [{model}].")
    else:
        emit(record.to_api(), state.format)


@versions.command("delete")
@click.argument("version")
@click.option("--model", required=True)
@common_options
@pass_state
def delete_version(state: CliState, version: str, model: str) -> None:
    """Delete a version and its stored files."""
    state.engine.delete_version(model, version)
    click.echo(f"Deleted version [{version}] of model [{model}].")
