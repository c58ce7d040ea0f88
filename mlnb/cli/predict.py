"""``mlnb predict`` and ``mlnb local predict``."""

from __future__ import annotations

from typing import Any

import click
import orjson

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.errors import InvalidArgument
from mlnb.states import JobState


def read_instances(
    json_instances: str | None, text_instances: str | None, json_request: str | None
) -> tuple[list[Any], dict[str, Any]]:
    """Instances from exactly one of gcloud's three input flags, and the
    request's other fields (``--json-request`` only).

    ``--json-instances``: one JSON instance per line; ``--text-instances``:
    one string instance per line; ``--json-request``: a JSON object with an
    ``instances`` list and any other fields for the model. ``-`` reads
    standard input.

    Raises:
        InvalidArgument: None or several flags, or a line that is not JSON.
    """
    given = [f for f in (json_instances, text_instances, json_request) if f is not None]
    if len(given) != 1:
        raise InvalidArgument("Give exactly one of --json-instances, --text-instances, --json-request")
    name = given[0]
    with click.open_file(name, "r") as f:
        text = f.read()
    if json_request is not None:
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise InvalidArgument(f"{name} is not JSON: {e}") from e
        if not isinstance(body, dict) or "instances" not in body:
            raise InvalidArgument(f'{name} must be a JSON object with an "instances" list')
        return body.pop("instances"), body
    lines = [line for line in text.splitlines() if line.strip()]
    if text_instances is not None:
        return lines, {}
    instances = []
    for number, line in enumerate(lines, 1):
        try:
            instances.append(orjson.loads(line))
        except orjson.JSONDecodeError as e:
            raise InvalidArgument(f"{name}, line {number} is not JSON: {e}") from e
    return instances, {}


def instance_file_options(func: Any) -> Any:
    """gcloud's three ways to give instances (``read_instances``)."""
    func = click.option("--json-request", help="A JSON file with an 'instances' list.")(func)
    func = click.option("--text-instances", help="A file of one text instance per line.")(func)
    return click.option("--json-instances", help="A file of one JSON instance per line.")(func)


def instance_options(func: Any) -> Any:
    func = instance_file_options(func)
    return click.option("--signature-name", help="TensorFlow signature to call.")(func)


@cli.command("predict")
@click.option("--model", required=True, help="The model to predict with.")
@click.option("--version", help="A version; the model's default if unset.")
@instance_options
@common_options
@pass_state
def predict(
    state: CliState,
    model: str,
    version: str | None,
    json_instances: str | None,
    text_instances: str | None,
    json_request: str | None,
    signature_name: str | None,
) -> list[Any]:
    """Predict with a deployed version. A --json-request's fields beside
    "instances" go to the model (a custom prediction routine's kwargs).
    When this home's background server runs (%ml server start, the
    sidebar's Start), it predicts, its model warm."""
    instances, parameters = read_instances(json_instances, text_instances, json_request)
    from mlnb.local_server import LocalServer

    served = LocalServer(state.settings).predict(
        model, instances, version=version, signature_name=signature_name, parameters=parameters
    )
    if served is not None:
        state.out.predictions(served)
        return served
    return predict_with_version(
        state, instances, model=model, version=version, signature_name=signature_name, parameters=parameters
    )


def predict_with_version(
    state: CliState,
    instances: list[Any],
    *,
    model: str,
    version: str | None,
    signature_name: str | None,
    parameters: dict[str, Any] | None = None,
) -> list[Any]:
    """``predict``'s act, for instances read from files or handed over by a magic."""
    predictions = state.engine.predict(
        model, instances, version=version, signature_name=signature_name, parameters=parameters
    )
    state.out.predictions(predictions)
    return predictions


@cli.command("explain")
@click.option("--model", required=True, help="The model whose predictions to explain.")
@click.option("--version", help="A version; the model's default if unset.")
@instance_file_options
@common_options
@pass_state
def explain(
    state: CliState,
    model: str,
    version: str | None,
    json_instances: str | None,
    text_instances: str | None,
    json_request: str | None,
) -> dict[str, Any]:
    """Explain a deployed version's predictions, as gcloud ai-platform
    explain did: each instance's prediction, and how much each feature
    moved the predicted label's score away from the baseline's (the
    version's explanationConfig, else the model's own method: TreeSHAP for
    trees, integrated gradients or XRAI for TensorFlow, sampled Shapley
    for the rest).
    A table shows one row an instance; --format json gives ML Engine's
    answer."""
    instances, _ = read_instances(json_instances, text_instances, json_request)
    return explain_with_version(state, instances, model=model, version=version)


def explain_with_version(
    state: CliState,
    instances: list[Any],
    *,
    model: str,
    version: str | None,
    feature_names: list[str] | None = None,
) -> dict[str, Any]:
    """``explain``'s act, for instances read from files or handed over by a
    magic (with a DataFrame's columns as ``feature_names``)."""
    answer = state.engine.explain(model, instances, version=version, feature_names=feature_names)
    state.out.explanations(answer)
    return answer


@cli.group()
def local() -> None:
    """Work with model files on this machine, without registering them."""


@local.command("predict")
@click.option("--model-dir", required=True, help="Folder of model files.")
@click.option("--framework", help="Detected from the files if unset.")
@instance_options
@common_options
@pass_state
def local_predict(
    state: CliState,
    model_dir: str,
    framework: str | None,
    json_instances: str | None,
    text_instances: str | None,
    json_request: str | None,
    signature_name: str | None,
) -> list[Any]:
    """Predict from a model folder directly."""
    instances, _ = read_instances(json_instances, text_instances, json_request)
    return predict_from_folder(
        state, instances, model_dir=model_dir, framework=framework, signature_name=signature_name
    )


def predict_from_folder(
    state: CliState,
    instances: list[Any],
    *,
    model_dir: str,
    framework: str | None,
    signature_name: str | None,
) -> list[Any]:
    """``local predict``'s act, for instances read from files or handed over by a magic."""
    predictions = state.engine.local_predict(
        model_dir, instances, framework=framework, signature_name=signature_name
    )
    state.out.predictions(predictions)
    return predictions


@local.command("train")
@click.option("--package-path", required=True, help="The trainer package folder (trainer/).")
@click.option("--module-name", required=True, help="The module to run (trainer.task).")
@click.option("--job-dir", help="Passed to the trainer as --job-dir.")
@click.option("--distributed", is_flag=True, help="Run a master, workers and parameter servers.")
@click.option("--worker-count", type=int, default=2, show_default=True)
@click.option("--parameter-server-count", type=int, default=2, show_default=True)
@click.argument("user_args", nargs=-1, type=click.UNPROCESSED)
@common_options
@pass_state
def local_train(
    state: CliState,
    package_path: str,
    module_name: str,
    job_dir: str | None,
    distributed: bool,
    worker_count: int,
    parameter_server_count: int,
    user_args: tuple[str, ...],
) -> None:
    """Run a trainer in the foreground with a job's environment. Arguments
    after -- go to the trainer."""
    several = distributed

    def echo(entry: Any) -> None:
        if entry.stream == "service":
            return
        prefix = f"{entry.replica}: " if several else ""
        click.echo(prefix + entry.message, err=entry.stream == "stderr")

    outcome = state.engine.local_train(
        package_path,
        module_name,
        list(user_args),
        job_dir=job_dir,
        distributed=distributed,
        worker_count=worker_count,
        parameter_server_count=parameter_server_count,
        echo=echo,
    )
    if outcome.state != JobState.SUCCEEDED:
        raise click.ClickException(outcome.error or outcome.state)
