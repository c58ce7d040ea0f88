"""``mlnb evaluate``: a version measured on labelled data, or two compared."""

from __future__ import annotations

from typing import Any

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import table
from mlnb.records import EvaluationRecord


def evaluation_options(func: Any) -> Any:
    """The flags of an evaluation, shared with ``%ml evaluate``."""
    options = [
        click.option("--model", required=True, help="The model whose version to evaluate."),
        click.option("--version", help="The version; the model's default if unset."),
        click.option("--target", required=True, help="The column of the true values."),
        click.option(
            "--task",
            type=click.Choice(["classification", "regression"]),
            help="What the version does; inferred from the model and the targets if unset.",
        ),
        click.option("--dataset", help="A name for the data, kept with the evaluation (default: the file)."),
        click.option("--compare", metavar="OTHER", help="A second version, evaluated beside the first."),
        click.option("--store/--no-store", default=True, help="Keep the evaluation with the version."),
        click.option(
            "--batch/--online",
            default=None,
            help="Predict the file in a batch prediction job, or here (default: a job for a URL or a "
            "file of at least evaluation_batch_mb).",
        ),
        click.option("--output-path", help="With a batch job: the folder for its prediction results."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command("evaluate")
@evaluation_options
@click.option("--data", required=True, help="Labelled rows: a .csv, .jsonl or .parquet file.")
@common_options
@pass_state
def evaluate(state: CliState, data: Any, **options: Any) -> EvaluationRecord | dict[str, Any]:
    """Measure a version on labelled data, as it serves: accuracy,
    precision, recall, F1, log loss and ROC AUC for a classifier; RMSE, MAE
    and R² for a regressor (scikit-learn's). --compare OTHER measures a
    second version on the same rows and gives each figure's difference with
    a 95% bootstrap interval. The evaluation is kept with the version."""
    return evaluate_with(state, data, **options)


def evaluate_with(
    state: CliState,
    data: Any,
    *,
    model: str,
    version: str | None,
    target: str,
    task: str | None,
    dataset: str | None,
    compare: str | None,
    store: bool,
    batch: bool | None = None,
    output_path: str | None = None,
) -> EvaluationRecord | dict[str, Any]:
    """``evaluate``'s act, for a file or a DataFrame handed over by a magic."""
    common: dict[str, Any] = {"task": task, "dataset": dataset, "store": store}
    if compare is None:
        record = state.engine.evaluate(
            model, data, target, version=version, batch=batch, output_path=output_path, **common
        )
        if state.out.shows_tables:
            click.echo(table(_figure_rows([record]), [("FIGURE", "figure"), (record.version.upper(), "0")]))
            click.echo(_summary(record))
        else:
            state.out.data(record.to_api())
        return record
    if batch or output_path:
        raise click.UsageError("--compare predicts both versions here: no --batch or --output-path")
    compared = state.engine.compare_versions(model, (version, compare), data, target, **common)
    records: list[EvaluationRecord] = compared["evaluations"]
    if state.out.shows_tables:
        rows = _figure_rows(records)
        for row in rows:
            difference = compared["differences"].get(row["figure"])
            if difference:
                row["difference"] = f"{difference['difference']:+.4g}"
                row["interval"] = f"[{difference['low']:+.4g}, {difference['high']:+.4g}]"
        columns = [("FIGURE", "figure"), *((r.version.upper(), str(i)) for i, r in enumerate(records))]
        click.echo(table(rows, [*columns, ("DIFFERENCE", "difference"), ("95% INTERVAL", "interval")]))
        click.echo(_summary(records[0]))
    else:
        state.out.data({"evaluations": [r.to_api() for r in records], "differences": compared["differences"]})
    return compared


def _figure_rows(records: list[EvaluationRecord]) -> list[dict[str, Any]]:
    figures = list(dict.fromkeys(name for record in records for name in record.headline))
    return [
        {"figure": name, **{str(i): _cell(r.headline.get(name)) for i, r in enumerate(records)}}
        for name in figures
    ]


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def _summary(record: EvaluationRecord) -> str:
    return (
        f"{record.task} on {record.rows} rows of {record.dataset} (target {record.target}, "
        f"fingerprint {record.fingerprint})"
    )
