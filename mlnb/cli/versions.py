"""``mlnb versions ...``: create, list, describe, update, set-default, delete."""

from __future__ import annotations

from typing import Any

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import list_options, merged_labels, parse_labels, selected
from mlnb.errors import InvalidArgument
from mlnb.records import OperationRecord, VersionRecord
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
        click.option("--origin", help="Folder (or file, or fsspec URL) of model files (or deploymentUri)."),
        click.option(
            "--config",
            "config_path",
            help="A Version YAML (deploymentUri, framework...), as gcloud takes; flags override it.",
        ),
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
        click.option(
            "--explanation-method",
            type=click.Choice(["sampled-shapley", "integrated-gradients", "xrai", "tree-shap"]),
            help="How explain attributes predictions; unset: TreeSHAP for tree models, integrated "
            "gradients for Keras, sampled Shapley for others.",
        ),
        click.option(
            "--num-paths", type=click.IntRange(1, 100), help="Sampled Shapley's feature orders (10)."
        ),
        click.option(
            "--num-integral-steps",
            type=click.IntRange(1, 1000),
            help="Integrated gradients' steps from the baseline (50).",
        ),
        click.option(
            "--explanation-baseline",
            type=click.Path(exists=True, dir_okay=False),
            help="A sample of the training data (JSON lines of instances, or CSV with a header): "
            "explanations measure against its medians and most frequent values.",
        ),
        click.option(
            "--baseline",
            type=click.Path(exists=True, dir_okay=False),
            help="Training data (.csv, .jsonl, .parquet) that drift of what the version serves is measured "
            "against (mlnb).",
        ),
        click.option("--accelerator", help="gcloud's: a version serves on the GPUs its machine has."),
        click.option("--service-account", help="gcloud's: the server's own user loads the model."),
        click.option("--staging-bucket", help="gcloud's: files are copied into the artifact store."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# A Version YAML's fields, as ``Engine.create_version``'s keywords.
_CONFIG_FIELDS = {
    "deploymentUri": "origin",
    "framework": "framework",
    "description": "description",
    "labels": "labels",
    "runtimeVersion": "runtime_version",
    "pythonVersion": "python_version",
    "predictionClass": "prediction_class",
    "packageUris": "package_uris",
    "machineType": "machine_type",
    "autoScaling": "auto_scaling",
    "manualScaling": "manual_scaling",
    "requestLoggingConfig": "request_logging_config",
    "batching": "batching",
    "explanationConfig": "explanation_config",
}
# Fields of ML Engine's Version that name cloud things: accepted, unused.
_CLOUD_FIELDS = {
    "name",
    "acceleratorConfig",
    "serviceAccount",
    "regions",
    "container",
    "routes",
}


def version_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """The keywords of ``Engine.create_version`` from ``version_options``'
    values: a ``--config`` Version YAML's fields, and the flags over them.

    Raises:
        InvalidArgument: An unknown field in the YAML, or no origin at all.
    """
    from mlnb.cli.jobs import read_yaml_object

    config = read_yaml_object(options["config_path"], "--config")
    unknown = sorted(set(config) - set(_CONFIG_FIELDS) - _CLOUD_FIELDS)
    if unknown:
        raise InvalidArgument(
            f"--config {options['config_path']} has fields a Version has not: {', '.join(unknown)}"
        )
    arguments = {_CONFIG_FIELDS[k]: v for k, v in config.items() if k in _CONFIG_FIELDS}
    batching: dict[str, float] = dict(arguments.get("batching") or {})
    if options["max_batch_size"] is not None:
        batching["maxBatchSize"] = options["max_batch_size"]
    if options["max_batch_wait_ms"] is not None:
        batching["maxWaitMs"] = options["max_batch_wait_ms"]
    min_nodes = options["min_nodes"]
    flags = {
        "origin": options["origin"],
        "framework": options["framework"],
        "description": options["description"] or None,
        "labels": parse_labels(options["labels"]) if options["labels"] else None,
        "runtime_version": options["runtime_version"],
        "python_version": options["python_version"],
        "prediction_class": options["prediction_class"],
        "package_uris": _listed(options["package_uris"]),
        "machine_type": options["machine_type"],
        "auto_scaling": {"minNodes": min_nodes} if min_nodes is not None else None,
        "batching": batching or None,
        "baseline": options["baseline"],
    }
    arguments |= {k: v for k, v in flags.items() if v is not None}
    explanation = _explanation_flags(arguments.get("explanation_config"), options)
    if explanation is not None:
        arguments["explanation_config"] = explanation
    if not arguments.get("origin"):
        raise InvalidArgument("Give --origin, or deploymentUri in --config: the folder of the model files")
    arguments.setdefault("description", "")
    return arguments


def _explanation_flags(config: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    """The Version YAML's explanationConfig with the explanation flags over it."""
    from mlnb.api import Engine

    if config is not None and not isinstance(config, dict):
        raise InvalidArgument("explanationConfig in --config must be a mapping")
    path = options["explanation_baseline"]
    return Engine.explanation_config(
        config,
        method=options["explanation_method"],
        num_paths=options["num_paths"],
        num_integral_steps=options["num_integral_steps"],
        baseline_sample=_sample_from_file(path) if path else None,
    )


def _sample_from_file(path: str) -> list[Any]:
    """Training instances from a sample file: CSV (named by its header) or JSON lines."""
    from mlnb.cli.predict import read_instances

    if path.endswith(".csv"):
        import pandas as pd

        instances: list[Any] = pd.read_csv(path).to_dict(orient="records")
    else:
        instances, _ = read_instances(path, None, None)
    if not instances:
        raise InvalidArgument(f"--explanation-baseline {path} holds no instances")
    return instances


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
@click.option(
    "--async",
    "run_async",
    is_flag=True,
    help="Return once the version is recorded; its copy and load go on (follow: mlnb operations wait).",
)
@common_options
@pass_state
def create_version(
    state: CliState, version: str, model: str, run_async: bool, **options: Any
) -> VersionRecord | OperationRecord:
    """Create a version from model files, and load it once to check it."""
    arguments = version_arguments(options)
    origin = arguments.pop("origin")
    if run_async:
        operation = state.engine.start_version_creation(model, version, origin, **arguments)
        state.out.changed(
            f"Creating version [{version}] of model [{model}] (operation [{operation.operation_id}]).",
            operation.to_api(),
        )
        return operation
    state.out.progress(f"Creating version [{version}] of model [{model}] from {origin} ...")
    record = state.engine.create_version(model, version, origin, **arguments)
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
    arguments = version_arguments(options)
    state.out.progress(f"Deploying {arguments['origin']} as version [{version}] of model [{model}] ...")
    record = state.engine.deploy(model, version, set_default=set_default, **arguments)
    return report_version(state, record)


@versions.command("list")
@click.option("--model", required=True)
@list_options
@common_options
@pass_state
def list_versions(
    state: CliState,
    model: str,
    filter_: str | None,
    sort_by: str | None,
    limit: int | None,
    page_size: int | None,
) -> list[VersionRecord]:
    """List a model's versions."""
    pairs = [
        (record, record.to_api() | {"shortName": record.name}) for record in state.engine.list_versions(model)
    ]
    kept = selected(pairs, filter_, sort_by, limit)
    state.out.listing([body for _, body in kept], VERSION_COLUMNS)
    return [record for record, _ in kept]


@versions.command("describe")
@click.argument("version")
@click.option("--model", required=True)
@common_options
@pass_state
def describe_version(state: CliState, version: str, model: str) -> VersionRecord:
    """Show one version, with its latest evaluations (mlnb's)."""
    record = state.engine.get_version(model, version)
    evaluations = state.engine.list_evaluations(model, version=version, limit=5)
    body = record.to_api()
    if evaluations:
        body["evaluations"] = [
            {k: e.to_api()[k] for k in ("evaluationId", "createTime", "dataset", "task", "rows")}
            | {"figures": e.headline}
            for e in evaluations
        ]
    state.out.resource(body)
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


def _listed(text: str | None) -> list[str] | None:
    """A comma-separated flag's values; ``None`` when the flag is not given."""
    return [p for p in text.split(",") if p] if text else None
