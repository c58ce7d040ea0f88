"""A batch prediction job over labelled instances (``predictionInput.
evaluation``): each instance's true value is split off before the model
sees it, each shard keeps its (target, prediction, class probabilities)
rows beside its results, and when every shard is written the job
evaluates the version on all of them, as ``mlnb evaluate`` does online.

The data's fingerprint is the sum of each evaluated line's SHA-256 (modulo
2**128), with the target's name: the same lines give the same fingerprint
however the input is split into shards or files, and in whichever order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from mlnb.batch.inputs import Batch, Record
from mlnb.batch.results import OutputFolder
from mlnb.batch.spec import EvaluationSpec
from mlnb.frameworks import Predictor, Scorer
from mlnb.prediction import decode_instances
from mlnb.prediction.outputs import to_jsonable
from mlnb.records import EvaluationRecord, now

__all__ = ["EVALUATION_NAME", "LabelledShard", "evaluate_output", "evaluation_record", "split_targets"]

# The evaluation of a labelled run, beside its results (what the store keeps too).
EVALUATION_NAME = "prediction.evaluation.json"
_MODULUS = 1 << 128


def split_targets(batch: Batch, target: str, key_field: str) -> tuple[Batch, list[Any]]:
    """The batch without its targets, and the targets of the instances kept.

    An instance that is not an object holding ``target`` goes to the batch's
    bad records. An object left with a single list (``{"label": 1,
    "values": [...]}``) is that list, as a keyed instance's is."""
    out = Batch(path=batch.path, bad=list(batch.bad))
    targets: list[Any] = []
    for index, instance in enumerate(batch.instances):
        if not isinstance(instance, dict) or target not in instance:
            out.bad.append(
                Record(
                    None,
                    batch.source(index),
                    batch.raws[index],
                    f"The instance has no {target!r} field: a labelled instance is a JSON object "
                    "(or a CSV row under a header) that holds its true value",
                )
            )
            continue
        rest = {k: v for k, v in instance.items() if k != target}
        if len(rest) == 1 and key_field not in rest:
            (only,) = rest.values()
            if isinstance(only, list):
                rest = only  # type: ignore[assignment]
        targets.append(instance[target])
        out.instances.append(rest)
        out.raws.append(batch.raws[index])
        out.sources.append(batch.sources[index])
    return out, targets


class LabelledShard:
    """The scored rows and data fingerprint of one shard, gathered batch by
    batch as its instances are predicted."""

    def __init__(self, predictor: Predictor, key_field: str) -> None:
        self.predictor = predictor
        self.key_field = key_field
        classes = getattr(predictor, "classes", None)
        self.classes = classes() if callable(classes) else None
        self.rows: list[bytes] = []
        self.digest = 0

    def add(self, batch: Batch, targets: list[Any], answered: list[tuple[int, Any]]) -> None:
        """Keep the rows of the instances the model answered (index in
        ``batch``, prediction): the rows evaluated, and fingerprinted."""
        if not answered:
            return
        for index, _ in answered:
            line = hashlib.sha256(batch.raws[index]).digest()[:16]
            self.digest = (self.digest + int.from_bytes(line)) % _MODULUS
        scores: list[Any] | None = None
        if self.classes is not None and isinstance(self.predictor, Scorer):
            chosen = [batch.instances[i] for i, _ in answered]
            decoded = decode_instances(chosen, self.key_field).instances
            scores = to_jsonable(self.predictor.scores(decoded))
        for n, (index, answer) in enumerate(answered):
            # A keyed or explained answer holds the prediction.
            keyed = isinstance(answer, dict) and "prediction" in answer
            row = [targets[index], answer["prediction"] if keyed else answer, scores[n] if scores else None]
            self.rows.append(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY))

    def stats(self) -> dict[str, Any]:
        """What the shard's counts file keeps of it."""
        return {"labelDigest": f"{self.digest:032x}", "classes": to_jsonable(self.classes)}


def evaluate_output(
    folder: OutputFolder, count: int, spec: EvaluationSpec, stats: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """The figures of a finished labelled run over its shards' rows:
    ``{"task", "rows", "fingerprint", "metrics"}``, also written to
    ``prediction.evaluation.json`` in the output folder.

    Raises:
        InvalidArgument: No row was predicted, or the rows cannot be evaluated.
    """
    from mlnb.evaluation import figures_of

    targets: list[Any] = []
    predictions: list[Any] = []
    probabilities: list[Any] = []
    for row in folder.scored_rows(count):
        target, prediction, scores = orjson.loads(row)
        targets.append(target)
        predictions.append(prediction)
        probabilities.append(scores)
    classes = next((s.get("classes") for s in stats.values() if s.get("classes")), None)
    scored = classes is not None and all(p is not None for p in probabilities)
    task, _, metrics = figures_of(
        targets, predictions, probabilities if scored else None, classes if scored else None, spec.task
    )
    digest = sum(int(s.get("labelDigest", "0"), 16) for s in stats.values()) % _MODULUS
    fingerprint = hashlib.sha256(f"{spec.target_field}\0{digest:032x}".encode()).hexdigest()[:16]
    body = {"task": task, "rows": len(targets), "fingerprint": fingerprint, "metrics": metrics}
    with folder.atomic(EVALUATION_NAME) as stream:
        stream.write(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    return body


def evaluation_record(
    body: dict[str, Any],
    spec: EvaluationSpec,
    version: tuple[str, str, str],
    job_id: str,
    input_paths: Sequence[str],
) -> EvaluationRecord:
    """The evaluation a labelled run made (``body``, as ``evaluate_output``
    gives it) as a record of the version it predicted with (project, model,
    version), made by the job, named after the data or its inputs."""
    project, model, name = version
    return EvaluationRecord(
        project=project,
        model=model,
        version=name,
        evaluation_id=uuid.uuid4().hex,
        time=now(),
        actor=f"batch prediction job {job_id}",
        dataset=spec.dataset or ", ".join(input_paths),
        fingerprint=body["fingerprint"],
        task=body["task"],
        target=spec.target_field,
        rows=body["rows"],
        metrics=body["metrics"],
    )
