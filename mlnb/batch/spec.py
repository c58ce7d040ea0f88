"""A batch prediction job's input: ML Engine's ``predictionInput``, checked
and normalised before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.naming import model_and_version
from mlnb.records import JOB_OPTIONS

__all__ = ["DATA_FORMATS", "OUTPUT_FORMATS", "EvaluationSpec", "PredictionSpec", "normalize_format"]

DATA_FORMATS = ("JSON", "TEXT", "CSV", "TF_RECORD", "TF_RECORD_GZIP")
OUTPUT_FORMATS = ("JSON", "CSV", "TF_RECORD")
# gcloud's spellings of the same formats.
_ALIASES = {"TFRECORD": "TF_RECORD", "TFRECORD_GZIP": "TF_RECORD_GZIP", "JSONL": "JSON"}
DEFAULT_MAX_WORKERS = 10
_MAX_BATCH_SIZE = 100_000


def normalize_format(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``tf-record-gzip``, ``TF_RECORD_GZIP`` and ``tf_record_gzip`` alike
    to the API's enum name.

    Raises:
        InvalidArgument: A format not in ``allowed``, listing them.
    """
    name = str(value).strip().upper().replace("-", "_")
    name = _ALIASES.get(name, name)
    if name not in allowed:
        choices = ", ".join(a.lower().replace("_", "-") for a in allowed)
        raise InvalidArgument(f"{what} {value!r} is not one mlnb reads here; use one of: {choices}")
    return name


@dataclass(frozen=True)
class EvaluationSpec:
    """``predictionInput.evaluation`` (mlnb's): each instance holds its true
    value in ``targetField``; the job predicts the rest and evaluates the
    version on them, as ``mlnb evaluate`` does."""

    target_field: str
    dataset: str | None = None
    task: str | None = None
    store: bool = True  # keep the evaluation with the version (when the job used a deployed one)

    @classmethod
    def from_api(cls, body: Any) -> EvaluationSpec | None:
        """
        Raises:
            InvalidArgument: No targetField, or an unknown task.
        """
        if body in (None, {}):
            return None
        if not isinstance(body, Mapping):
            raise InvalidArgument('predictionInput.evaluation must be an object: {"targetField": COLUMN}')
        target = body.get("targetField")
        if not isinstance(target, str) or not target:
            raise InvalidArgument(
                "predictionInput.evaluation.targetField is required: the field of each instance that "
                "holds its true value"
            )
        task = body.get("task") or None
        if task not in (None, "classification", "regression"):
            raise InvalidArgument(
                f"predictionInput.evaluation.task must be classification or regression, not {task!r}"
            )
        store = body.get("store", True)
        if not isinstance(store, bool):
            raise InvalidArgument(f"predictionInput.evaluation.store must be true or false, not {store!r}")
        return cls(target, body.get("dataset") or None, task, store)

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"targetField": self.target_field, "dataset": self.dataset, "task": self.task}
        if not self.store:
            body["store"] = False
        return {k: v for k, v in body.items() if v is not None}


@dataclass(frozen=True)
class PredictionSpec:
    """What to predict with, from what, into where, and how wide."""

    input_paths: tuple[str, ...]
    output_path: str
    data_format: str
    output_data_format: str = "JSON"
    model_name: str | None = None
    version_name: str | None = None
    uri: str | None = None
    framework: str | None = None
    runtime_version: str | None = None
    signature_name: str | None = None
    max_worker_count: int | None = None  # None: the cores here, or ML Engine's 10 on Dask
    batch_size: int | None = None  # None: sized by bytes (see inputs.read_batches)
    key_field: str | None = None
    region: str | None = None
    explain: bool = False  # mlnb's: each prediction's explanation beside it
    # mlnb's: the instances are labelled; the job evaluates the version on them.
    evaluation: EvaluationSpec | None = None
    # mlnb's, as any job's input may hold them (scheduling, retries,
    # notifications): kept as given, read and checked by the job service.
    job_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> PredictionSpec:
        """From ``predictionInput`` (camelCase, as ``ml.v1.json`` has it).

        Raises:
            InvalidArgument: A missing or bad field, named.
        """
        paths = body.get("inputPaths")
        if isinstance(paths, str):
            paths = [paths]
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise InvalidArgument("predictionInput.inputPaths needs one or more paths (wildcards allowed)")
        output = body.get("outputPath")
        if not isinstance(output, str) or not output:
            raise InvalidArgument("predictionInput.outputPath is required: the folder for the results")
        if not body.get("dataFormat"):
            raise InvalidArgument(f"predictionInput.dataFormat is required: one of {', '.join(DATA_FORMATS)}")
        sources = [k for k in ("modelName", "versionName", "uri") if body.get(k)]
        if not sources:
            raise InvalidArgument("Say which model to predict with: modelName, versionName or uri")
        if "uri" in sources and len(sources) > 1:
            raise InvalidArgument("Give uri (a model folder) or modelName/versionName, not both")
        model, version = model_and_version(body.get("modelName"), body.get("versionName"))
        return cls(
            input_paths=tuple(paths),
            output_path=output,
            data_format=normalize_format(body["dataFormat"], DATA_FORMATS, "dataFormat"),
            output_data_format=normalize_format(
                body.get("outputDataFormat") or "JSON", OUTPUT_FORMATS, "outputDataFormat"
            ),
            model_name=model,
            version_name=version,
            uri=body.get("uri") or None,
            framework=body.get("framework") or None,
            runtime_version=body.get("runtimeVersion") or None,
            signature_name=body.get("signatureName") or None,
            max_worker_count=_positive(body.get("maxWorkerCount"), None, "maxWorkerCount"),
            batch_size=_positive(body.get("batchSize"), None, "batchSize", _MAX_BATCH_SIZE),
            key_field=body.get("keyField") or None,
            region=body.get("region") or None,
            explain=_flag(body.get("explain"), "explain"),
            evaluation=EvaluationSpec.from_api(body.get("evaluation")),
            job_options={k: body[k] for k in JOB_OPTIONS if body.get(k) is not None},
        )

    def to_api(self, project: str) -> dict[str, Any]:
        """Back to ``predictionInput`` (what the job record keeps), with the
        model's full resource name in ``project``."""
        names = {
            "input_paths": "inputPaths",
            "output_path": "outputPath",
            "data_format": "dataFormat",
            "output_data_format": "outputDataFormat",
            "model_name": "modelName",
            "version_name": "versionName",
            "uri": "uri",
            "framework": "framework",
            "runtime_version": "runtimeVersion",
            "signature_name": "signatureName",
            "max_worker_count": "maxWorkerCount",
            "batch_size": "batchSize",
            "key_field": "keyField",
            "region": "region",
        }
        body = {names[k]: v for k, v in asdict(self).items() if k in names and v is not None}
        if self.explain:
            body["explain"] = True
        if self.evaluation is not None:
            body["evaluation"] = self.evaluation.to_api()
        body.update(self.job_options)
        body["inputPaths"] = list(self.input_paths)
        if self.model_name:
            body["modelName"] = f"projects/{project}/models/{self.model_name}"
        if self.model_name and self.version_name:
            body["versionName"] = f"{body.pop('modelName')}/versions/{self.version_name}"
        return body


def _flag(value: Any, what: str) -> bool:
    if value in (None, False, "false", "False"):
        return False
    if value in (True, "true", "True"):
        return True
    raise InvalidArgument(f"predictionInput.{what} must be true or false, not {value!r}")


def _positive(value: Any, default: int | None, what: str, most: int = 10_000) -> Any:
    if value in (None, "", 0):
        return default
    try:
        number = int(value)  # int64 fields may come as strings
    except (TypeError, ValueError):
        raise InvalidArgument(f"predictionInput.{what} must be a whole number, not {value!r}") from None
    if not 1 <= number <= most:
        raise InvalidArgument(f"predictionInput.{what} must be from 1 to {most}, not {number}")
    return number
