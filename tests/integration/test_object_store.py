"""An S3 bucket (a real S3-compatible server on 127.0.0.1) where users give
URLs: the artifact root, batch prediction inputs and outputs, a trainer's
packageUris, a notebook job's job dir. Two machines share the database and
the bucket, nothing else."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import notebook_factory, trainers
from support.object_store import s3_server
from support.team import ServiceHost, machine, shared_database
from support.waiting import wait_for

from mlnb.api import Engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "mlnb-team"


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    with s3_server(BUCKET) as env:
        yield env


@pytest.fixture
def bucket_fs(s3: dict[str, str]) -> Any:
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True)


@pytest.fixture
def team(tmp_path: Path, s3: dict[str, str]) -> Iterator[tuple[Engine, Engine]]:
    url = shared_database(tmp_path)
    root = f"s3://{BUCKET}/{tmp_path.name}/artifacts"
    laptop = Engine(machine(tmp_path, "laptop", url, artifact_root=root))
    server = Engine(machine(tmp_path, "server", url, artifact_root=root))
    yield laptop, server
    for engine in (laptop, server):
        for job in engine.list_jobs():
            if not job.ended:
                engine.cancel_job(job.job_id)
        engine.close()


def test_a_batch_job_reads_and_writes_the_bucket_with_two_workers(
    team: tuple[Engine, Engine], bucket_fs: Any, sklearn_model: tuple[Path, Any], tmp_path: Path
) -> None:
    laptop, server = team
    laptop.create_model("iris")
    laptop.create_version("iris", "v1", sklearn_model[0])
    prefix = f"{BUCKET}/{tmp_path.name}"
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]] * 25
    for n in range(3):
        bucket_fs.pipe(
            f"{prefix}/in/part-{n}.jsonl", ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
        )
    laptop.submit_prediction_job(
        "s3_batch",
        model="iris",
        input_paths=[f"s3://{prefix}/in/*.jsonl"],
        output_path=f"s3://{prefix}/out",
        data_format="JSON",
        max_worker_count=2,
    )
    job = server.wait_job("s3_batch", timeout=300)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.prediction_output is not None and job.prediction_output["predictionCount"] == "150"
    bucket_fs.invalidate_cache()
    results = sorted(p for p in bucket_fs.ls(f"{prefix}/out") if "prediction.results" in p)
    lines = [json.loads(line) for p in results for line in bucket_fs.cat(p).decode().splitlines()]
    # Every instance once, in input order; the version serves from the
    # bucket on the other machine too.
    assert [line["prediction"] for line in lines] == server.predict("iris", rows * 3)


def test_a_training_job_installs_a_package_from_the_bucket(
    team: tuple[Engine, Engine], bucket_fs: Any, tmp_path: Path
) -> None:
    laptop, server = team
    trainer = trainers.write_trainer(tmp_path / "src" / "pkg")
    (trainer.parent / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='trainer', version='0.1', packages=['trainer'])\n"
    )
    archive = tmp_path / "trainer-0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(trainer.parent, arcname="trainer-0.1")
    uri = f"s3://{BUCKET}/{tmp_path.name}/packages/trainer-0.1.tar.gz"
    bucket_fs.put(str(archive), uri)
    laptop.submit_training_job(
        "s3_package",
        {"packageUris": [uri], "pythonModule": "trainer.task", "args": ["--steps", "2"]},
    )
    job = server.wait_job("s3_package", timeout=300)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.training_input is not None and job.training_input["packageUris"] == [uri]  # a URL stays a URL
    assert "step 1" in [e.message for e in server.job_logs("s3_package")]


def test_a_notebook_job_run_by_a_team_host_is_read_on_another_machine(
    tmp_path: Path, s3: dict[str, str], bucket_fs: Any
) -> None:
    url = shared_database(tmp_path)
    root = f"s3://{BUCKET}/{tmp_path.name}/artifacts"
    host = ServiceHost(machine(tmp_path, "host-1", url, artifact_root=root))
    laptop = Engine(machine(tmp_path, "laptop", url, artifact_root=root, job_host="service"))
    server = Engine(machine(tmp_path, "server", url, artifact_root=root))
    try:
        source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "report.ipynb")
        laptop.submit_notebook_job("s3_notebook", source, parameters={"divisor": 4, "label": "quarter"})
        job = server.wait_job("s3_notebook", timeout=300)
        assert job.state == "SUCCEEDED", job.error_message
        assert job.runner_host == "host-1"
        # Staged and kept in the bucket: the submitter's and the host's
        # homes hold nothing the server needs.
        assert (job.notebook_input or {})["notebook"].startswith("s3://")
        executed = server.executed_notebook("s3_notebook")
        assert "injected-parameters" in executed["cells"][2]["metadata"]["tags"]
        assert any("value 2.5" in e.message for e in server.job_logs("s3_notebook"))
    finally:
        host.stop()
        laptop.close()
        server.close()


EVENTS_TRAINER = """
import argparse
import os
import tempfile

import fsspec
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
args = parser.parse_args()
# Written locally, then put in the job dir, as a PyTorch trainer's
# SummaryWriter output is when the job dir is a bucket.
with tempfile.TemporaryDirectory() as folder:
    writer = EventFileWriter(folder)
    for step, loss in enumerate([0.9, 0.5, 0.25], 1):
        value = summary_pb2.Summary.Value(tag="epoch_loss", simple_value=loss)
        writer.add_event(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()
    fs, root = fsspec.core.url_to_fs(args.job_dir)
    for name in os.listdir(folder):
        fs.put(os.path.join(folder, name), root + "/train/" + name)
print("events written", flush=True)
"""


def test_tensorboard_scalars_in_a_bucket_job_dir_are_read_on_another_machine(
    team: tuple[Engine, Engine], tmp_path: Path
) -> None:
    import urllib.request

    laptop, server = team
    package = tmp_path / "src" / "events_trainer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(EVENTS_TRAINER)
    job_dir = f"s3://{BUCKET}/{tmp_path.name}/runs/s3_events"
    laptop.submit_training_job(
        "s3_events", {"jobDir": job_dir}, package_path=package, module_name="events_trainer.task"
    )
    job = server.wait_job("s3_events", timeout=300)
    assert job.state == "SUCCEEDED", job.error_message
    metrics = server.job_metrics("s3_events")
    losses = metrics[metrics["series"] == "train/epoch_loss"]
    assert list(losses["step"]) == [1, 2, 3] and list(losses["value"]) == pytest.approx([0.9, 0.5, 0.25])
    board = server.start_tensorboard(job="s3_events")
    try:
        assert board["logdir"] == job_dir  # a URL stays a URL
        url = f"{board['url']}data/plugin/scalars/tags"

        def tags() -> dict[str, Any]:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return dict(json.loads(answer.read()))

        # TensorBoard reads the bucket itself, in the background.
        wait_for(lambda: "epoch_loss" in tags().get("train", {}), "TensorBoard to list the bucket's run")
    finally:
        server.stop_tensorboard(board["port"])
