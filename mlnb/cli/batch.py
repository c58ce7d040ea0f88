"""``mlnb jobs submit prediction`` and ``mlnb jobs resume``: batch
prediction jobs, as ``gcloud ml-engine jobs submit prediction``."""

from __future__ import annotations

import click

from mlnb.cli.app import CliState, common_options, pass_state
from mlnb.cli.jobs import follow_logs, jobs, report_submitted, submit
from mlnb.cli.output import comma_list, parse_labels
from mlnb.records import JobRecord


@submit.command("prediction")
@click.argument("job")
@click.option("--model", help="Predict with this model's default version (or --version).")
@click.option("--version", help="The version of --model to predict with.")
@click.option("--model-dir", help="A model folder that was never deployed (ML Engine's uri).")
@click.option("--framework", help="The framework of --model-dir; detected from its files when unset.")
@click.option("--input-paths", required=True, help="Comma-separated files, folders' wildcards, fsspec URLs.")
@click.option("--output-path", required=True, help="The folder for prediction.results-* and errors.")
@click.option(
    "--data-format",
    required=True,
    help="json, text, csv, tf-record or tf-record-gzip (the API's names in any case too).",
)
@click.option("--output-data-format", help="json (default), csv or tf-record.")
@click.option(
    "--max-worker-count",
    type=click.IntRange(min=1),
    help="Workers at most (default: one per core; 10 on Dask).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Instances per model call (default: about 4 MB of input, 64 to 4096 instances).",
)
@click.option("--signature-name", help="The SavedModel signature to predict with.")
@click.option("--key-field", help="An instance field passed through to each prediction.")
@click.option(
    "--explain",
    is_flag=True,
    default=None,
    help="Write each prediction's explanation beside it (the version's explanationConfig).",
)
@click.option(
    "--target",
    "target_field",
    metavar="FIELD",
    help="The instances are labelled: FIELD holds each one's true value; the job evaluates the version.",
)
@click.option("--dataset", help="With --target: a name for the data, kept with the evaluation.")
@click.option("--runtime-version", help="Recorded as runtimeVersion.")
@click.option("--resume", is_flag=True, help="Continue the run that wrote --output-path before.")
@click.option("--cluster", help="A Dask scheduler (tcp://host:8786) to run the workers on.")
@click.option("--labels", help="KEY=VALUE,... labels.")
@click.option("--stream-logs", is_flag=True, help="Follow the job's logs until it ends.")
@common_options
@pass_state
def submit_prediction(
    state: CliState,
    job: str,
    model: str | None,
    version: str | None,
    model_dir: str | None,
    framework: str | None,
    input_paths: str,
    output_path: str,
    data_format: str,
    output_data_format: str | None,
    max_worker_count: int | None,
    batch_size: int | None,
    signature_name: str | None,
    key_field: str | None,
    explain: bool | None,
    target_field: str | None,
    dataset: str | None,
    runtime_version: str | None,
    resume: bool,
    cluster: str | None,
    labels: str | None,
    stream_logs: bool,
) -> JobRecord:
    """Predict every instance of files with a model, in worker processes.
    With --target, the instances are labelled and the job also evaluates
    the version on them (prediction.evaluation.json; kept with a deployed
    version, as mlnb evaluate keeps one)."""
    if dataset and not target_field:
        raise click.UsageError("--dataset names the labelled data of --target")
    if bool(model) == bool(model_dir):
        raise click.UsageError("Give --model (with --version if not the default) or --model-dir")
    if version and not model:
        raise click.UsageError("--version needs --model")
    record = state.engine.submit_prediction_job(
        job,
        model=model,
        version=version,
        model_dir=model_dir,
        framework=framework,
        input_paths=comma_list(input_paths),
        output_path=output_path,
        data_format=data_format,
        output_data_format=output_data_format,
        max_worker_count=max_worker_count,
        batch_size=batch_size,
        signature_name=signature_name,
        key_field=key_field,
        runtime_version=runtime_version,
        region=state.region,
        resume=resume,
        labels=parse_labels(labels),
        cluster=cluster,
        explain=explain,
        target_field=target_field,
        evaluation_dataset=dataset,
    )
    return report_submitted(state, record, stream_logs)


@jobs.command("resume")
@click.argument("job")
@click.option("--stream-logs", is_flag=True, help="Follow the job's logs until it ends.")
@common_options
@pass_state
def resume_job(state: CliState, job: str, stream_logs: bool) -> JobRecord:
    """Queue a failed or cancelled batch prediction job again (it predicts
    only the shards it had not written) or pipeline (it reuses the steps
    that succeeded and runs again from the one that failed)."""
    record = state.engine.resume_job(job)
    what = (
        "it runs again from the step that failed"
        if record.kind == "pipeline"
        else "it predicts the shards not yet written"
    )
    state.out.changed(f"Job [{record.job_id}] is {record.state} again; {what}.", record.to_api())
    if stream_logs:
        return follow_logs(state, record.job_id)
    return record
