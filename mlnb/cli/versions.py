"""``mlnb versions ...``: create, list, describe, update, set-default, delete."""

from __future__ import annotations

from typing import Any

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import merged_labels, parse_labels
from mlnb.records import VersionRecord
from mlnb.states import VersionState

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


def version_options(func: Any) -> Any:
    """The flags of a new version, shared by ``versions create`` and ``deploy``."""
    options = [
        click.option("--origin", required=True, help="Folder (or file, or fsspec URL) of model files."),
        click.option(
            "--framework", help="scikit-learn, xgboost, tensorflow, or a plugin's name; detected if unset."
        ),
        click.option("--description", default="", help="A description of the version."),
        click.option("--labels", help="KEY=VALUE,... labels."),
        click.option("--runtime-version", help="Recorded as runtimeVersion."),
        click.option("--python-version", help="Recorded as pythonVersion."),
        click.option("--prediction-class", help="module.Class of a custom prediction routine."),
        click.option("--package-uris", help="Comma-separated packages holding the prediction class."),
        click.option("--machine-type", help="Recorded as machineType."),
        click.option(
            "--min-nodes",
            type=click.IntRange(min=0),
            help="autoScaling.minNodes: how many worker processes of a server keep the version loaded.",
        ),
        click.option(
            "--max-batch-size",
            type=click.IntRange(min=1),
            help="The most instances a server predicts in one model call for this version.",
        ),
        click.option(
            "--max-batch-wait-ms",
            type=click.FloatRange(min=0),
            help="How long a request may wait for others to share its model call (default 0).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def version_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """The keywords of ``Engine.create_version`` from ``version_options``' values."""
    batching: dict[str, float] = {}
    if options["max_batch_size"] is not None:
        batching["maxBatchSize"] = options["max_batch_size"]
    if options["max_batch_wait_ms"] is not None:
        batching["maxWaitMs"] = options["max_batch_wait_ms"]
    min_nodes = options["min_nodes"]
    return {
        "origin": options["origin"],
        "framework": options["framework"],
        "description": options["description"],
        "labels": parse_labels(options["labels"]),
        "runtime_version": options["runtime_version"],
        "python_version": options["python_version"],
        "prediction_class": options["prediction_class"],
        "package_uris": [p for p in (options["package_uris"] or "").split(",") if p],
        "machine_type": options["machine_type"],
        "auto_scaling": {"minNodes": min_nodes} if min_nodes is not None else None,
        "batching": batching or None,
    }


def report_version(state: CliState, record: VersionRecord) -> VersionRecord:
    """Say how a new version came out; a FAILED one is an error."""
    default = " (the model's default)" if record.is_default else ""
    state.out.changed(
        f"Created version [{record.name}] of model [{record.model}]: {record.framework}{default}."
        if record.state == VersionState.READY
        else None,
        record.to_api(),
    )
    if record.state == VersionState.FAILED:
        raise click.ClickException(f"version {record.name} FAILED: {record.error_message}")
    return record


@versions.command("create")
@click.argument("version")
@click.option("--model", required=True, help="The model to add the version to.")
@version_options
@common_options
@pass_state
def create_version(state: CliState, version: str, model: str, **options: Any) -> VersionRecord:
    """Create a version from model files, and load it once to check it."""
    state.out.progress(f"Creating version [{version}] of model [{model}] from {options['origin']} ...")
    record = state.engine.create_version(model, version, **version_arguments(options))
    return report_version(state, record)


@cli.command("deploy")
@click.argument("model")
@click.argument("version")
@version_options
@click.option("--set-default", is_flag=True, help="Make the new version the default of an existing model.")
@common_options
@pass_state
def deploy(state: CliState, model: str, version: str, set_default: bool, **options: Any) -> VersionRecord:
    """Create MODEL when it does not exist, then VERSION from --origin, in one step."""
    state.out.progress(f"Deploying {options['origin']} as version [{version}] of model [{model}] ...")
    record = state.engine.deploy(model, version, set_default=set_default, **version_arguments(options))
    return report_version(state, record)


@versions.command("list")
@click.option("--model", required=True)
@common_options
@pass_state
def list_versions(state: CliState, model: str) -> list[VersionRecord]:
    """List a model's versions."""
    rows = []
    records = state.engine.list_versions(model)
    for record in records:
        rows.append(record.to_api() | {"shortName": record.name})
    state.out.listing(rows, VERSION_COLUMNS)
    return records


@versions.command("describe")
@click.argument("version")
@click.option("--model", required=True)
@common_options
@pass_state
def describe_version(state: CliState, version: str, model: str) -> VersionRecord:
    """Show one version."""
    record = state.engine.get_version(model, version)
    state.out.resource(record.to_api())
    return record


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
) -> VersionRecord:
    """Change a version's description or labels."""
    # As for models: the etag of the read that the labels were merged into.
    current = state.engine.get_version(model, version)
    labels = merged_labels(current.labels, update_labels, remove_labels, clear_labels)
    record = state.engine.update_version(
        model, version, description=description, labels=labels, etag=current.etag
    )
    state.out.changed(f"Updated version [{record.name}] of model [{model}].", record.to_api())
    return record


@versions.command("set-default")
@click.argument("version")
@click.option("--model", required=True)
@common_options
@pass_state
def set_default(state: CliState, version: str, model: str) -> VersionRecord:
    """Make a version the model's default."""
    record = state.engine.set_default_version(model, version)
    state.out.changed(f"Version [{record.name}] is now the default of model [{model}].", record.to_api())
    return record


@versions.command("delete")
@click.argument("version")
@click.option("--model", required=True)
@common_options
@pass_state
def delete_version(state: CliState, version: str, model: str) -> None:
    """Delete a version and its stored files."""
    state.engine.delete_version(model, version)
    click.echo(f"Deleted version [{version}] of model [{model}].")
