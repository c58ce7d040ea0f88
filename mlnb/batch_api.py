"""The Engine's batch prediction jobs: submit one (a deployed model or an
undeployed model folder over files), and resume one that failed or was
cancelled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mlnb.config import Settings
from mlnb.errors import FailedPrecondition
from mlnb.frameworks import AdapterRegistry, ModelLoadError
from mlnb.jobs import JobService, JobState, absolute_location, ensure_job_host, job_home
from mlnb.records import JobRecord, merge_flags
from mlnb.registry import ModelRegistry
from mlnb.states import JobKind, VersionState

if TYPE_CHECKING:
    from mlnb.batch.spec import PredictionSpec


class BatchAPI:
    """Batch prediction jobs, the part of :class:`mlnb.Engine` that submits
    and resumes them (the job service runs them)."""

    def __init__(
        self, settings: Settings, jobs: JobService, registry: ModelRegistry, adapters: AdapterRegistry
    ) -> None:
        self.settings = settings
        self._jobs = jobs
        self._registry = registry
        self._adapters = adapters

    def submit_prediction_job(
        self,
        job_id: str,
        prediction_input: Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        version: str | None = None,
        model_dir: str | Path | None = None,
        framework: str | None = None,
        input_paths: Sequence[str | Path] | None = None,
        output_path: str | Path | None = None,
        data_format: str | None = None,
        output_data_format: str | None = None,
        max_worker_count: int | None = None,
        batch_size: int | None = None,
        signature_name: str | None = None,
        key_field: str | None = None,
        runtime_version: str | None = None,
        region: str | None = None,
        resume: bool = False,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        explain: bool | None = None,
        target_field: str | None = None,
        evaluation_dataset: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        project = self.settings.project_of(project)
        flags = {
            "modelName": model,
            "versionName": version,
            "uri": str(model_dir) if model_dir is not None else None,
            "framework": framework,
            "inputPaths": [str(p) for p in input_paths] if input_paths else None,
            "outputPath": str(output_path) if output_path is not None else None,
            "dataFormat": data_format,
            "outputDataFormat": output_data_format,
            "maxWorkerCount": max_worker_count,
            "batchSize": batch_size,
            "signatureName": signature_name,
            "keyField": key_field,
            "runtimeVersion": runtime_version,
            "region": region,
            "explain": explain,
        }
        body = merge_flags(prediction_input, flags, "predictionInput")
        if target_field or evaluation_dataset:
            evaluation = dict(body.get("evaluation") or {})
            evaluation.update(
                {k: v for k, v in (("targetField", target_field), ("dataset", evaluation_dataset)) if v}
            )
            body["evaluation"] = evaluation
        if version and model and "/" not in version:
            body.pop("modelName", None)
            body["versionName"] = f"projects/{project}/models/{model}/versions/{version}"
        # Imported here: the batch part (numpy among its imports) costs
        # every face's start-up time, and most commands never submit a job.
        from mlnb.batch.execution import MODEL_FILE
        from mlnb.batch.inputs import list_inputs
        from mlnb.batch.spec import PredictionSpec

        body = _local_paths_made_absolute(body)
        spec = PredictionSpec.from_api(body)
        list_inputs(spec.input_paths)  # an input that matches nothing fails now, not in the job
        model_spec = self._batch_model(spec, project)
        record = JobRecord(
            project=project,
            job_id=job_id,
            kind=JobKind.PREDICTION,
            state=JobState.QUEUED,
            create_time=datetime.now(UTC),
            prediction_input={**spec.to_api(project), **({"resume": True} if resume else {})},
            labels=dict(labels or {}),
            cluster=cluster or None,
        )
        # The model is written down before the job is recorded: a job host
        # sees a queued job only once it holds everything it needs.
        self._jobs.check_new_job(record)
        home = job_home(self.settings.home, project, job_id)
        home.mkdir(parents=True, exist_ok=True)
        (home / MODEL_FILE).write_bytes(orjson.dumps(model_spec))
        job = self._jobs.create_job(record)
        ensure_job_host(self.settings)
        return job

    def resume_job(self, job_id: str, *, project: str | None = None) -> JobRecord:
        job = self._jobs.requeue(self.settings.project_of(project), job_id, (JobKind.PREDICTION,))
        ensure_job_host(self.settings)
        return job

    def _batch_model(self, spec: PredictionSpec, project: str) -> dict[str, Any]:
        from mlnb.batch.model import uri_model, version_model

        if spec.uri:
            if "://" not in spec.uri:
                folder = Path(spec.uri)
                if not folder.exists():
                    raise FailedPrecondition(f"The model folder {spec.uri!r} does not exist")
                if not spec.framework:
                    try:
                        self._adapters.detect(folder)  # a folder mlnb cannot read fails now
                    except ModelLoadError as e:
                        raise FailedPrecondition(f"The model folder {spec.uri!r} holds no model: {e}") from e
            return uri_model(spec.uri, spec.framework, self.settings)
        model = spec.model_name or ""  # PredictionSpec holds a model name when it has no uri
        if spec.version_name:
            record = self._registry.get_version(project, model, spec.version_name)
        else:
            default = self._registry.get_model(project, model).default_version
            if default is None:
                raise FailedPrecondition(f"Model {model!r} has no default version to predict with")
            record = default
        if record.state != VersionState.READY:
            raise FailedPrecondition(
                f"Version {record.name!r} of model {model!r} is {record.state}; only READY versions predict"
            )
        return version_model(record, self.settings)


def _local_paths_made_absolute(body: dict[str, Any]) -> dict[str, Any]:
    """Local paths as absolute paths: the job runs in another process and folder."""
    out = dict(body)
    paths = out.get("inputPaths")
    if isinstance(paths, str):
        paths = [paths]
    if isinstance(paths, list):
        out["inputPaths"] = [absolute_location(str(p)) for p in paths]
    for key in ("outputPath", "uri"):
        if isinstance(out.get(key), str) and out[key]:
            out[key] = absolute_location(out[key])
    return out
