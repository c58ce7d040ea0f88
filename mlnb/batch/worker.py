"""A batch prediction worker: ``python -m mlnb.batch.worker OUTPUT_PATH``,
with ``MLNB_BATCH_WORKER`` and ``MLNB_BATCH_WORKERS`` set, loads the model
once, then predicts the shards of the plan that are its own (index modulo
the number of workers) and not yet written, each into its
results file (with each prediction's explanation when the plan says
``explain``, and its true value split off and kept beside it when the plan
says ``evaluation``). One bad instance never fails a shard: it goes to the errors
file with its source and the reason."""

from __future__ import annotations

import importlib
import os
import resource
import sys
import time
from typing import Any

from mlnb.batch.inputs import Batch, Shard, read_batches
from mlnb.batch.labelled import LabelledShard, split_targets
from mlnb.batch.model import load_model
from mlnb.batch.results import OutputFolder, ShardWriter
from mlnb.batch.spec import EvaluationSpec
from mlnb.errors import InvalidArgument, MlnbError
from mlnb.explain import ExplanationConfig, explain_instances
from mlnb.frameworks import Predictor
from mlnb.prediction import decode_instances, predict_decoded, predict_each, run_prediction

__all__ = ["predict_shard", "run_worker"]


def _predict_batch(
    predictor: Predictor, batch: Batch, plan: dict[str, Any], writer: ShardWriter
) -> list[tuple[int, Any]]:
    """Predict a batch together; when that fails, find the bad instances.
    The instances answered: (index in the batch, prediction)."""
    for record in batch.bad:
        writer.add_error(record.source, record.error or "", record.raw)
    if not batch.instances:
        return []
    key_field = plan.get("keyField") or "key"
    kwargs = {"signature_name": plan["signatureName"]} if plan.get("signatureName") else {}
    try:
        predictions = run_prediction(predictor, batch.instances, key_field, **kwargs)
        writer.add_predictions(predictions)
        return list(enumerate(predictions))
    except MlnbError:
        pass  # some instance is bad, or the model refused the batch: go finer
    answered: list[tuple[int, Any]] = []
    try:
        answer = predict_each(predictor, batch.instances, key_field, **kwargs)
    except MlnbError:
        answer = None  # the model refused the good ones together: one by one
    if answer is not None:
        failed = {e["index"]: e["message"] for e in answer["errors"]}
        for index, prediction in enumerate(answer["predictions"]):
            if index in failed:
                message = failed[index].replace(f"Instance {index}", "The instance", 1)
                writer.add_error(batch.source(index), message, batch.raws[index])
            else:
                writer.add_predictions([prediction])
                answered.append((index, prediction))
        return answered
    for index, instance in enumerate(batch.instances):
        try:
            predictions = run_prediction(predictor, [instance], key_field, **kwargs)
            writer.add_predictions(predictions)
            answered.append((index, predictions[0]))
        except MlnbError as e:
            message = e.message.replace("Instance 0", "The instance", 1)
            writer.add_error(batch.source(index), message, batch.raws[index])
    return answered


def _explain_batch(
    predictor: Predictor, batch: Batch, plan: dict[str, Any], writer: ShardWriter, config: ExplanationConfig
) -> list[tuple[int, Any]]:
    """Predict and explain a batch together; when that fails, instance by
    instance, the ones that cannot be explained going to the errors file.
    The instances answered: (index in the batch, prediction)."""
    for record in batch.bad:
        writer.add_error(record.source, record.error or "", record.raw)
    if not batch.instances:
        return []
    key_field = plan.get("keyField") or "key"
    kwargs = {"signature_name": plan["signatureName"]} if plan.get("signatureName") else {}

    def explained(instances: list[Any]) -> list[Any]:
        decoded = decode_instances(instances, key_field)
        predictions = predict_decoded(predictor, decoded, **kwargs)
        answer = explain_instances(predictor, decoded.instances, config)
        return [
            {**(p if isinstance(p, dict) else {"prediction": p}), "explanation": e}
            for p, e in zip(predictions, answer["explanations"], strict=True)
        ]

    try:
        predictions = explained(batch.instances)
        writer.add_predictions(predictions)
        return list(enumerate(predictions))
    except MlnbError:
        pass  # some instance is bad, or of another shape: one by one
    answered: list[tuple[int, Any]] = []
    for index, instance in enumerate(batch.instances):
        try:
            predictions = explained([instance])
            writer.add_predictions(predictions)
            answered.append((index, predictions[0]))
        except MlnbError as e:
            message = e.message.replace("Instance 0", "The instance", 1)
            writer.add_error(batch.source(index), message, batch.raws[index])
    return answered


def predict_shard(
    predictor: Predictor, shard: Shard, plan: dict[str, Any], folder: OutputFolder
) -> ShardWriter:
    """Predict one shard and put its results, errors and counts in place."""
    started = time.monotonic()
    config = (
        ExplanationConfig.from_api(plan["model"].get("explanationConfig")) if plan.get("explain") else None
    )
    evaluation = EvaluationSpec.from_api(plan.get("evaluation"))
    key_field = plan.get("keyField") or "key"
    labelled = LabelledShard(predictor, key_field) if evaluation is not None else None
    with ShardWriter(folder, shard.index, len(plan["shards"]), plan["outputDataFormat"]) as writer:
        for read in read_batches(shard, plan["dataFormat"], plan.get("batchSize")):
            batch, targets = read, list[Any]()
            if evaluation is not None:
                batch, targets = split_targets(read, evaluation.target_field, key_field)
            if config is None:
                answered = _predict_batch(predictor, batch, plan, writer)
            else:
                answered = _explain_batch(predictor, batch, plan, writer, config)
            if labelled is not None:
                labelled.add(batch, targets, answered)
        if labelled is not None:
            writer.scored, writer.stats = labelled.rows, labelled.stats()
        writer.commit(time.monotonic() - started)
    return writer


# The library a framework's models need. A worker is a fresh process, so it
# imports it first, timed apart: the log then says where a load's time goes
# (scikit-learn's own import takes seconds on a small machine; the model
# itself, milliseconds).
_LIBRARIES = {"SCIKIT_LEARN": "sklearn.pipeline", "XGBOOST": "xgboost", "TENSORFLOW": "tensorflow"}


def _import_timed(library: str | None) -> float | None:
    """Seconds to import ``library``; ``None`` when it cannot be imported
    (loading the model then says why, in its own words)."""
    if library is None:
        return None
    started = time.monotonic()
    try:
        importlib.import_module(library)
    except ImportError:
        return None
    return time.monotonic() - started


def run_worker(output_path: str, worker: int, workers: int) -> int:
    """Predict this worker's unwritten shards; the exit status."""
    folder = OutputFolder(output_path)
    plan = folder.read_plan()
    if plan is None:
        print(f"No plan in {output_path}/.mlnb: nothing to do", file=sys.stderr)
        return 2
    shards = [Shard.from_json(s) for s in plan["shards"]]
    done = folder.done_shards(len(shards))
    mine = [s for s in shards if s.index % workers == worker and s.index not in done]
    if not mine:
        print("No shards left for this worker")
        return 0
    started = time.monotonic()
    library = _LIBRARIES.get(str(plan["model"].get("framework") or "").upper())
    # A warm worker (forked from the job host's warm parent) has it already.
    warm = library is not None and library in sys.modules
    importing_s = _import_timed(library)
    try:
        predictor = load_model(plan["model"])
    except Exception as e:  # the model's own loading code can raise anything
        message = e.message if isinstance(e, MlnbError) else f"{type(e).__name__}: {e}"
        print(f"Could not load the model: {message}", file=sys.stderr)
        return 1
    if warm:
        spent = f" ({library} was imported already: a warm start)"
    elif library and importing_s:
        spent = f" ({importing_s:.1f} s of it importing {library})"
    else:
        spent = ""
    print(
        f"Model loaded in {time.monotonic() - started:.1f} s{spent}; {len(mine)} shards to predict",
        flush=True,
    )
    for shard in mine:
        written = predict_shard(predictor, shard, plan, folder)
        print(
            f"Shard {shard.index + 1} of {len(shards)}: {written.predictions} predictions, "
            f"{written.errors} errors",
            flush=True,
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Worker done in {time.monotonic() - started:.1f} s; peak memory {peak_mb:.0f} MB", flush=True)
    return 0


def main(argv: list[str]) -> int:
    # The worker's place comes from the environment, as each replica's does.
    if len(argv) != 1:
        print("usage: MLNB_BATCH_WORKER=i MLNB_BATCH_WORKERS=n python -m mlnb.batch.worker OUTPUT_PATH")
        return 2
    try:
        worker, workers = int(os.environ["MLNB_BATCH_WORKER"]), int(os.environ["MLNB_BATCH_WORKERS"])
        return run_worker(argv[0], worker, workers)
    except InvalidArgument as e:
        print(e.message, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
