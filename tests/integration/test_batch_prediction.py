"""Batch prediction jobs end to end: real job host, real worker processes,
files in every data format, results and errors as ML Engine writes them,
and a killed worker followed by a resume that leaves no instance missing
and none written twice."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import model_factory
from support.waiting import wait_for

from mlnb.api import Engine
from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.runtime.processes import process_alive
from mlnb.runtime.tfrecord import read_records, write_record

pytestmark = pytest.mark.integration

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


@pytest.fixture
def engine(home: Path, sklearn_model: tuple[Path, Any]) -> Iterator[Engine]:
    engine = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, cancel_grace_s=1.0)
    engine.create_model("iris")
    engine.create_version("iris", "v1", sklearn_model[0])
    yield engine
    engine.close()


def results(folder: Path) -> list[dict[str, Any]]:
    """Every results line, in shard order."""
    lines = []
    for path in sorted(folder.glob("prediction.results-*")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines())
    return lines


def errors(folder: Path) -> list[dict[str, Any]]:
    text = (folder / "prediction.errors_stats-00000-of-00001").read_text()
    return [json.loads(line) for line in text.splitlines()]


def expected(model: Any, rows: list[list[float]]) -> list[Any]:
    return list(model.predict(np.asarray(rows)).tolist())


def test_json_lines_with_bad_instances_and_keys(
    engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    source = tmp_path / "in.jsonl"
    good = [{"key": f"k{i}", "values": SAMPLES[i % 3]} for i in range(200)]
    lines = [json.dumps(g) for g in good[:100]] + [
        "{not json",
        json.dumps({"key": "bad", "values": [1, "x"]}),
    ]
    lines += [json.dumps(g) for g in good[100:]]
    source.write_text("\n".join(lines) + "\n")
    engine.submit_prediction_job(
        "keys", model="iris", input_paths=[source], output_path=tmp_path / "out", data_format="JSON"
    )
    job = engine.wait_job("keys", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    want = expected(sklearn_model[1], [g["values"] for g in good])
    assert results(tmp_path / "out") == [
        {"key": g["key"], "prediction": p} for g, p in zip(good, want, strict=True)
    ]
    failed = errors(tmp_path / "out")
    assert [e["input"] for e in failed] == ["{not json", lines[101]]
    assert failed[0]["source"].startswith(f"{source} at byte ") and "Not valid JSON" in failed[0]["error"]
    assert "a list must hold one type" in failed[1]["error"]
    assert job.prediction_output is not None
    assert (job.prediction_output["predictionCount"], job.prediction_output["errorCount"]) == ("200", "2")
    assert job.prediction_output["outputPath"] == str(tmp_path / "out")
    assert job.progress == {"done": 1, "total": 1, "unit": "shards"}
    # The worker was forked warm: scikit-learn was imported before the job.
    loaded = load_lines(engine, "keys")
    assert len(loaded) == 1 and "(sklearn.pipeline was imported already: a warm start)" in loaded[0], loaded


def test_a_batch_job_with_explain_writes_each_explanation_beside_its_prediction(
    engine: Engine, tmp_path: Path, xgboost_model: tuple[Path, Any]
) -> None:
    import xgboost as xgb

    engine.create_model("trees")
    engine.create_version("trees", "v1", xgboost_model[0])
    rows = [SAMPLES[i % 3] for i in range(30)]
    lines = [json.dumps({"key": i, "x": row}) for i, row in enumerate(rows)]
    lines.insert(10, json.dumps({"key": "short", "x": [1.0, 2.0]}))  # 2 of the 4 features
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    engine.submit_prediction_job(
        "why",
        model="trees",
        input_paths=[source],
        output_path=tmp_path / "out",
        data_format="JSON",
        key_field="key",
        explain=True,
    )
    job = engine.wait_job("why", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.prediction_input is not None and job.prediction_input["explain"] is True
    written = results(tmp_path / "out")
    assert [r["key"] for r in written] == list(range(30))
    features = xgb.DMatrix(np.asarray(rows))
    margins = xgboost_model[1].predict(features, output_margin=True)
    probabilities = xgboost_model[1].predict(features)
    for row, margin, want in zip(written, margins, probabilities, strict=True):
        (label,) = row["explanation"]["attributions_by_label"]
        assert row["prediction"] == pytest.approx(want.tolist(), abs=1e-6)
        # TreeSHAP of the version's default method: exact, in XGBoost's margin.
        assert label["label_index"] == int(np.argmax(margin))
        assert label["example_score"] == pytest.approx(float(margin[label["label_index"]]), abs=1e-4)
        total = sum(label["attributions"].values())
        assert total == pytest.approx(label["example_score"] - label["baseline_score"], abs=1e-4)
    (failed,) = errors(tmp_path / "out")
    assert "short" in failed["input"] and "4 features" in failed["error"]


def load_lines(engine: Engine, job: str) -> list[str]:
    """The workers' "Model loaded in" lines of a job's log (log lines reach
    the store in batches: waited for)."""
    return wait_for(
        lambda: [e.message for e in engine.job_logs(job) if e.message.startswith("Model loaded in")],
        "the worker's load line in the job log",
    )


def test_cold_workers_say_where_the_load_time_went(tmp_path: Path, sklearn_model: tuple[Path, Any]) -> None:
    # With no warm parent, each worker is a fresh interpreter: the log says
    # how much of its load was the framework's import.
    home = tmp_path / "cold-home"
    cold = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, warm_imports="none")
    try:
        cold.create_model("iris")
        cold.create_version("iris", "v1", sklearn_model[0])
        source = tmp_path / "in.jsonl"
        source.write_text("\n".join(json.dumps(row) for row in SAMPLES) + "\n")
        cold.submit_prediction_job(
            "cold", model="iris", input_paths=[source], output_path=tmp_path / "out", data_format="JSON"
        )
        job = cold.wait_job("cold", timeout=120)
        assert job.state == "SUCCEEDED", job.error_message
        assert [r["prediction"] for r in results(tmp_path / "out")] == expected(sklearn_model[1], SAMPLES)
        loaded = load_lines(cold, "cold")
        assert len(loaded) == 1 and "s of it importing sklearn.pipeline)" in loaded[0], loaded
    finally:
        cold.close()


def test_wildcards_gzip_and_a_key_field_of_mlnb(
    engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rows = []
    for n in range(3):
        part = [{"id": n * 10 + i, "values": SAMPLES[(n + i) % 3]} for i in range(10)]
        rows.extend(part)
        data = ("\n".join(json.dumps(p) for p in part) + "\n").encode()
        name = f"part-{n}.jsonl"
        (inputs / name).write_bytes(gzip.compress(data) if n == 1 else data)  # one of them gzipped
    (inputs / "notes.txt").write_text("not an input")
    engine.submit_prediction_job(
        "wild",
        model="iris",
        version="v1",
        input_paths=[str(inputs / "part-*.jsonl")],
        output_path=tmp_path / "out",
        data_format="text",
        key_field="id",
        max_worker_count=2,
    )
    job = engine.wait_job("wild", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    want = expected(sklearn_model[1], [r["values"] for r in rows])
    # Shards are files here: three results files, in input order.
    assert sorted(p.name for p in (tmp_path / "out").glob("prediction.results-*")) == [
        f"prediction.results-0000{i}-of-00003" for i in range(3)
    ]
    assert results(tmp_path / "out") == [
        {"id": r["id"], "prediction": p} for r, p in zip(rows, want, strict=True)
    ]
    assert errors(tmp_path / "out") == []


def test_csv_in_csv_out_from_a_model_folder_never_deployed(
    engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    (tmp_path / "in.csv").write_text("a,b,c,d\n" + "\n".join(",".join(map(str, r)) for r in SAMPLES) + "\n")
    origin = model_factory.sklearn_logistic_dir(tmp_path / "logistic")[0]
    engine.submit_prediction_job(
        "csv",
        model_dir=origin,
        input_paths=[tmp_path / "in.csv"],
        output_path=tmp_path / "out",
        data_format="csv",
        output_data_format="csv",
    )
    job = engine.wait_job("csv", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    assert (tmp_path / "out" / "prediction.results.keys").read_text() == "prediction\n"
    rows = (tmp_path / "out" / "prediction.results-00000-of-00001").read_text().splitlines()
    assert len(rows) == 3 and all(re.fullmatch(r"\d+", r) for r in rows)


def test_tfrecords_in_and_out_without_tensorflow(
    engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    plain, zipped = tmp_path / "in.tfrecord", tmp_path / "in.tfrecord.gz"
    with plain.open("wb") as stream:
        for row in SAMPLES:
            write_record(stream, json.dumps(row).encode())
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for job_id, path, fmt in (("tfr", plain, "tf-record"), ("tfrgz", zipped, "TF_RECORD_GZIP")):
        engine.submit_prediction_job(
            job_id,
            model="iris",
            input_paths=[path],
            output_path=tmp_path / job_id,
            data_format=fmt,
            output_data_format="tf-record",
        )
        job = engine.wait_job(job_id, timeout=120)
        assert job.state == "SUCCEEDED", job.error_message
        with (tmp_path / job_id / "prediction.results-00000-of-00001").open("rb") as stream:
            got = [json.loads(r) for r in read_records(stream)]
        assert got == [{"prediction": p} for p in expected(sklearn_model[1], SAMPLES)]


def test_bad_jobs_are_refused_before_they_run(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text("[1, 2, 3, 4]\n")
    common = {"input_paths": [tmp_path / "in.jsonl"], "output_path": tmp_path / "out", "data_format": "json"}
    with pytest.raises(InvalidArgument, match="matches no file"):
        engine.submit_prediction_job(
            "a", model="iris", **{**common, "input_paths": [tmp_path / "none*.jsonl"]}
        )
    with pytest.raises(InvalidArgument, match="'XML' is not one mlnb reads"):
        engine.submit_prediction_job("a", model="iris", **{**common, "data_format": "XML"})
    with pytest.raises(FailedPrecondition, match="does not exist"):
        engine.submit_prediction_job("a", model_dir=tmp_path / "nowhere", **common)
    with pytest.raises(FailedPrecondition, match="no model"):
        engine.submit_prediction_job("a", model_dir=tmp_path, **common)
    assert engine.list_jobs() == []
    # A second run into the same folder is refused unless it resumes.
    engine.submit_prediction_job("first", model="iris", **common)
    assert engine.wait_job("first", timeout=120).state == "SUCCEEDED"
    engine.submit_prediction_job("second", model="iris", **common)
    second = engine.wait_job("second", timeout=120)
    assert second.state == "FAILED" and "holds the results of job 'first'" in (second.error_message or "")


def _worker_pids(engine: Engine, job_id: str) -> dict[str, int]:
    pids = {}
    for entry in engine.job_logs(job_id):
        found = re.match(r"Started (\S+) \(pid (\d+)\)", entry.message)
        if found:
            pids[found.group(1)] = int(found.group(2))
    return pids


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="warm workers and /proc are Linux's")
def test_a_job_host_killed_with_9_takes_its_warm_workers(engine: Engine, tmp_path: Path) -> None:
    model_dir, package = model_factory.custom_routine(tmp_path / "slow", factor=1.0, predict_seconds=0.5)
    engine.create_version(
        "iris", "slow", model_dir, prediction_class="scaled_sum.ScaledSum", package_uris=[package]
    )
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({"values": [i, i]}) for i in range(400)) + "\n")
    engine.submit_prediction_job(
        "orphaned",
        model="iris",
        version="slow",
        input_paths=[source],
        output_path=tmp_path / "out",
        data_format="JSON",
        batch_size=1,
        max_worker_count=1,
    )
    pid = wait_for(lambda: _worker_pids(engine, "orphaned").get("worker-replica-0"), "the worker's pid")
    host = engine.get_job("orphaned").runner_pid
    assert host is not None
    warm_parent = _parent_of(pid)
    assert warm_parent not in (host, 1), "the worker is not a child of the warm parent"
    os.kill(host, signal.SIGKILL)
    # The warm parent sees its host go and ends; its children get SIGKILL.
    wait_for(lambda: not process_alive(pid) and not process_alive(warm_parent), "the warm worker to end")


def test_a_killed_worker_then_resume_predicts_each_instance_once(engine: Engine, tmp_path: Path) -> None:
    # 0.8 s a shard, four shards a worker: the kill below lands mid-run.
    model_dir, package = model_factory.custom_routine(tmp_path / "slow", factor=1.0, predict_seconds=0.2)
    engine.create_version(
        "iris", "slow", model_dir, prediction_class="scaled_sum.ScaledSum", package_uris=[package]
    )
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    keys = []
    for n in range(8):  # eight files, eight shards; four a worker
        part = [{"key": n * 100 + i, "values": [n, i]} for i in range(40)]
        keys.extend(p["key"] for p in part)
        (inputs / f"part-{n}.jsonl").write_text("\n".join(json.dumps(p) for p in part) + "\n")
    out = tmp_path / "out"
    engine.submit_prediction_job(
        "killed",
        model="iris",
        version="slow",
        input_paths=[str(inputs / "*.jsonl")],
        output_path=out,
        data_format="json",
        max_worker_count=2,
        batch_size=10,
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("prediction.results-*")):
        assert time.monotonic() < deadline, "no shard was written"
        assert engine.get_job("killed").state in ("QUEUED", "PREPARING", "RUNNING")
        time.sleep(0.05)
    # Log lines reach the store in batches: the worker's pid may come after its first shard.
    pid = wait_for(lambda: _worker_pids(engine, "killed").get("worker-replica-0"), "worker-replica-0's pid")
    os.kill(pid, signal.SIGKILL)
    failed = engine.wait_job("killed", timeout=120)
    assert failed.state == "FAILED"
    assert "shards were not written" in (failed.error_message or "")
    assert "worker-replica-0 was killed by signal 9" in (failed.error_message or "")
    assert "Resuming the job predicts only the rest" in (failed.error_message or "")
    written_before = len(list(out.glob("prediction.results-*")))
    assert 0 < written_before < 8
    # What a worker killed mid-shard leaves (whether this one did depends on timing).
    (out / ".prediction.results-00007-of-00008.dead.tmp").write_text('{"key": 0}\n')
    engine.resume_job("killed")
    done = engine.wait_job("killed", timeout=120)
    assert done.state == "SUCCEEDED", done.error_message
    got = [r["key"] for r in results(out)]
    assert sorted(got) == sorted(keys) and len(got) == len(set(got))  # each once, none missing
    assert got == keys  # and in input order
    assert done.prediction_output is not None and done.prediction_output["predictionCount"] == "320"
    assert not list(out.glob(".*.tmp")) and not list((out / ".mlnb").glob(".*.tmp"))
    with pytest.raises(FailedPrecondition, match="only a FAILED or CANCELLED job can be resumed"):
        engine.resume_job("killed")


def test_a_labelled_batch_job_evaluates_the_version_as_evaluate_does(
    engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any], iris_features: Any
) -> None:
    from sklearn.datasets import load_iris

    frame = pd.DataFrame(iris_features, columns=["a", "b", "c", "d"]).assign(species=load_iris().target)
    online = engine.evaluate("iris", frame, "species", store=False)
    lines = [
        json.dumps({"species": int(y), "values": row})
        for row, y in zip(iris_features.tolist(), frame["species"], strict=True)
    ]
    inputs = tmp_path / "labelled"
    inputs.mkdir()
    for n in range(3):  # three files, each its own shard at least
        (inputs / f"part-{n}.jsonl").write_text("\n".join(lines[n * 50 : (n + 1) * 50]) + "\n")
    (inputs / "part-3.jsonl").write_text(
        json.dumps({"values": SAMPLES[0]}) + "\n" + json.dumps({"species": 1, "values": [1.0]}) + "\n"
    )
    engine.submit_prediction_job(
        "graded",
        model="iris",
        input_paths=[str(inputs / "*.jsonl")],
        output_path=tmp_path / "out",
        data_format="json",
        max_worker_count=2,
        batch_size=20,
        target_field="species",
        evaluation_dataset="iris-files",
    )
    job = engine.wait_job("graded", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    summary = (job.prediction_output or {})["evaluation"]
    assert summary["rows"] == 150 and summary["version"] == "v1" and summary["task"] == "classification"
    (kept,) = engine.list_evaluations("iris", version="v1")
    assert kept.evaluation_id == summary["evaluationId"] and kept.dataset == "iris-files"
    assert kept.target == "species" and kept.actor == "batch prediction job graded"
    for figure in ("accuracy", "f1Macro", "logLoss", "rocAuc"):
        assert kept.metrics[figure] == pytest.approx(online.metrics[figure]), figure
    assert kept.metrics["confusionMatrix"] == online.metrics["confusionMatrix"]
    assert (
        json.loads((tmp_path / "out" / "prediction.evaluation.json").read_text())["metrics"] == kept.metrics
    )
    # The predictions are written as in any job; the unlabelled and the bad instance are errors.
    assert [r["prediction"] for r in results(tmp_path / "out")] == expected(
        sklearn_model[1], iris_features.tolist()
    )
    reasons = sorted(e["error"] for e in errors(tmp_path / "out"))
    assert "has no 'species' field" in reasons[1] and "4 features" in reasons[0]
    # The same lines split otherwise (one file, another order): the same fingerprint.
    (tmp_path / "again.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    again = engine.evaluate(
        "iris",
        tmp_path / "again.jsonl",
        "species",
        batch=True,
        store=False,
        output_path=str(tmp_path / "out2"),
    )
    assert again.fingerprint == kept.fingerprint and again.metrics["accuracy"] == kept.metrics["accuracy"]
    assert len(engine.list_evaluations("iris")) == 1  # store=False kept nothing
    assert (tmp_path / "out2" / "prediction.evaluation.json").exists()


def test_evaluate_runs_a_batch_job_for_a_large_csv_file(
    home: Path, tmp_path: Path, sklearn_model: tuple[Path, Any], iris_features: Any
) -> None:
    from sklearn.datasets import load_iris

    # A tiny threshold: this 4 kB file counts as large.
    engine = Engine(home=str(home), job_heartbeat_s=0.2, job_host_idle_s=3.0, evaluation_batch_mb=0.001)
    try:
        engine.deploy("flowers", "v1", sklearn_model[0])
        frame = pd.DataFrame(iris_features, columns=["a", "b", "c", "d"]).assign(species=load_iris().target)
        frame.to_csv(tmp_path / "holdout.csv", index=False)
        record = engine.evaluate("flowers", tmp_path / "holdout.csv", "species")
        (job,) = [j for j in engine.list_jobs() if j.job_id.startswith("evaluate_flowers_")]
        assert (
            job.state == "SUCCEEDED"
            and (job.prediction_input or {})["evaluation"]["targetField"] == "species"
        )
        assert (job.prediction_output or {})["evaluation"]["evaluationId"] == record.evaluation_id
        online = engine.evaluate("flowers", frame, "species", store=False)
        assert record.rows == 150 and record.metrics["accuracy"] == pytest.approx(online.metrics["accuracy"])
        assert record.metrics["logLoss"] == pytest.approx(online.metrics["logLoss"])
        assert [r.evaluation_id for r in engine.list_evaluations("flowers")] == [record.evaluation_id]
        with pytest.raises(InvalidArgument, match="reads files"):
            engine.evaluate("flowers", frame, "species", batch=True)
    finally:
        engine.close()
