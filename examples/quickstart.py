"""The mlnb quickstart: train a small scikit-learn model, deploy it as a
model version, predict with it online, train it again as a job, deploy
that, and predict a file of instances as a batch prediction job, all on
the embedded defaults (a SQLite file and a local folder under MLNB_HOME;
nothing to start).

Run it with ``make demo``, or ``python examples/quickstart.py``. It uses
``MLNB_HOME`` when set, else ``./demo-home`` (emptied first).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlnb


def step(text: str) -> None:
    print(f"\n==> {text}")


def main() -> None:
    home = Path(os.environ.get("MLNB_HOME") or Path.cwd() / "demo-home")
    if "MLNB_HOME" not in os.environ and home.exists():
        shutil.rmtree(home)
    engine = mlnb.Engine(home=str(home))
    print(f"mlnb {mlnb.__version__}: metadata in {engine.settings.database_url}")
    print(f"                 artifacts in {engine.settings.artifact_root}")

    step("Train a scikit-learn pipeline in-process (iris, standard scaler + logistic regression)")
    features, labels = load_iris(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(features, labels, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(train_x, train_y)
    print(f"    held-out accuracy: {model.score(test_x, test_y):.3f}")

    export_dir = Path(tempfile.mkdtemp(prefix="iris-export-"))
    joblib.dump(model, export_dir / "model.joblib")
    print(f"    exported to {export_dir / 'model.joblib'} (plain joblib, no mlnb import needed)")

    step("Create the model 'iris' and the version 'v1' from the exported folder")
    engine.create_model("iris", description="Iris species classifier", labels={"demo": "quickstart"})
    started = time.perf_counter()
    version = engine.create_version("iris", "v1", export_dir, description="first version")
    print(
        f"    {version.resource_name}: {version.state}, framework {version.framework}, "
        f"default={version.is_default} ({time.perf_counter() - started:.2f} s)"
    )
    print(f"    files copied to {version.artifact_uri} with their SHA-256:")
    for name, digest in version.files.items():
        print(f"      {name}  sha256:{digest[:16]}...")
    shutil.rmtree(export_dir)
    print("    (the export folder is deleted: the version keeps its own copy)")

    predict(engine, model, test_x)
    train_as_a_job(engine, home)
    predict_a_batch(engine, home, test_x)
    engine.close()
    print(f"\nDone. Everything lives under {home}. Try the CLI on it:")
    print(f"    MLNB_HOME={home} .venv/bin/mlnb models list")
    print(f"    MLNB_HOME={home} .venv/bin/mlnb versions describe v1 --model iris")
    print(f"    MLNB_HOME={home} .venv/bin/mlnb models history iris")
    print(f"    MLNB_HOME={home} .venv/bin/mlnb jobs describe iris_train_1")
    print(f"    MLNB_HOME={home} .venv/bin/mlnb jobs describe iris_batch_1")


def train_as_a_job(engine: mlnb.Engine, home: Path) -> None:
    step("Train again as an asynchronous job: a trainer package run by mlnb's job host")
    trainer = Path(__file__).parent / "iris_trainer" / "trainer"
    job_dir = home / "runs" / "iris_train_1"
    started = time.perf_counter()
    job = engine.submit_training_job(
        "iris_train_1", package_path=trainer, module_name="trainer.task", job_dir=job_dir, args=["--C", "0.5"]
    )
    print(f"    submitted {job.job_id}: {job.state}; its logs, live:")
    for entry in engine.job_logs(job.job_id, follow=True):
        print(f"      {entry.replica:<17} {entry.message}")
    job = engine.get_job(job.job_id)
    print(f"    {job.job_id} {job.state} in {time.perf_counter() - started:.2f} s")
    if job.state != "SUCCEEDED":
        raise SystemExit(f"the training job failed: {job.error_message}")

    step("Deploy the job's export as version v2 and make it the default")
    version = engine.create_version("iris", "v2", job_dir, description="trained by job iris_train_1")
    engine.set_default_version("iris", "v2")
    print(f"    {version.resource_name}: {version.state}; now the default")
    print(f"    predict with the default (v2): {engine.predict('iris', [[6.4, 3.2, 4.5, 1.5]])}")


def predict_a_batch(engine: mlnb.Engine, home: Path, test_x: Any) -> None:
    step("Predict a file of instances as a batch prediction job (JSON lines in, ML Engine's files out)")
    source = home / "batch" / "instances.jsonl"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(
        "".join(json.dumps({"id": i, "values": row}) + "\n" for i, row in enumerate(test_x.tolist()))
    )
    output = home / "batch" / "out"
    engine.submit_prediction_job(
        "iris_batch_1",
        model="iris",
        input_paths=[source],
        output_path=output,
        data_format="json",
        key_field="id",
    )
    job = engine.wait_job("iris_batch_1", timeout=300)
    if job.state != "SUCCEEDED":
        raise SystemExit(f"the batch prediction job failed: {job.error_message}")
    counts = job.prediction_output or {}
    done = f"{counts.get('predictionCount')} predictions, {counts.get('errorCount')} errors"
    print(f"    iris_batch_1 {job.state}: {done}")
    first = sorted(output.glob("prediction.results-*"))[0]
    print(f"    {first}: {first.read_text().splitlines()[0]} ...")


def predict(engine: mlnb.Engine, model: Any, test_x: Any) -> None:
    step("Predict online through the engine, with ML Engine's instance format")
    instances = test_x[:3].tolist()
    predictions = engine.predict("iris", instances)
    names = load_iris().target_names
    for instance, prediction in zip(instances, predictions, strict=True):
        print(f"    {instance} -> {prediction} ({names[prediction]})")
    same = predictions == model.predict(np.asarray(instances)).tolist()
    print(f"    same answers as the model's own predict(): {same}")
    if not same:
        raise SystemExit("the deployed version disagrees with the model it was made from")

    keyed = engine.predict("iris", [{"key": "row-7", "values": instances[0]}])
    print(f"    with an instance key: {keyed}")

    timings = []
    for _ in range(200):
        t0 = time.perf_counter()
        engine.predict("iris", instances[:1])
        timings.append(time.perf_counter() - t0)
    print(f"    warm predict of 1 instance: median {np.median(timings) * 1e6:.0f} us")

    step("A bad instance gets an error that names it")
    try:
        engine.predict("iris", [instances[0], [1.0, "two", 3.0, 4.0]])
    except mlnb.InvalidArgument as e:
        print(f"    InvalidArgument: {e}")

    step("The model's history so far")
    for event in engine.model_history("iris"):
        print(f"    {event.time:%H:%M:%S}  {event.action:<16} {event.version or '':<4} by {event.actor}")


if __name__ == "__main__":
    main()
