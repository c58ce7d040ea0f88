"""What a trainer reports, read from its log lines and TensorBoard files."""

from __future__ import annotations

from pathlib import Path

from mlnb.runtime.logs import LogTail, LogWriter
from mlnb.training.metrics import EpochLog, TrainingMetrics, tensorboard_scalars


def write_scalars(folder: Path, tag: str, values: list[float]) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder))
    for step, value in enumerate(values, 1):
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        writer.add_event(event_pb2.Event(step=step, summary=summary))
    writer.close()


def test_epochs_come_from_the_chiefs_keras_lines() -> None:
    log = EpochLog()
    log.feed("master-replica-0", "Epoch 1/3")
    log.feed(
        "master-replica-0", "\r1/4 [====>...] - loss: 0.9\r4/4 [======] - 0s 2ms/step - loss: 0.5 - acc: 0.7"
    )
    log.feed("worker-replica-0", "Epoch 3/3")  # a worker's epochs are the chief's again
    log.feed("trial-2/chief-replica-0", "Epoch 2/3")
    assert log.progress() == {"done": 1, "total": 3, "unit": "epochs"}
    assert log.points == [
        {"series": "loss", "step": 1, "value": 0.5},
        {"series": "acc", "step": 1, "value": 0.7},
    ]
    assert EpochLog().progress() is None


def test_training_metrics_read_what_is_new(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "log.jsonl")
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    metrics = TrainingMetrics(LogTail(writer.path), str(job_dir))
    assert metrics.read() == []
    writer.write("master-replica-0", "stdout", "Epoch 1/2")
    writer.write("master-replica-0", "stdout", "2/2 - 0s - 1ms/step - loss: 0.4000")
    assert metrics.read() == [{"series": "loss", "step": 1, "value": 0.4}]
    write_scalars(job_dir / "train", "epoch_loss", [0.5, 0.25])
    writer.write("master-replica-0", "stdout", "Epoch 2/2")
    writer.write("master-replica-0", "stdout", "2/2 - 0s - 1ms/step - loss: 0.2000")
    points = metrics.read()
    assert {"series": "loss", "step": 2, "value": 0.2} in points
    assert [p for p in points if p["series"] == "train/epoch_loss"] == [
        {"series": "train/epoch_loss", "step": 1, "value": 0.5},
        {"series": "train/epoch_loss", "step": 2, "value": 0.25},
    ]
    assert metrics.read() == points
    writer.close()
    assert tensorboard_scalars(str(tmp_path / "nowhere")) == []


def test_an_epoch_ends_at_its_metrics_line_the_next_epoch_or_the_end_of_the_job() -> None:
    log = EpochLog()
    log.feed("master-replica-0", "Epoch 1/12")
    log.feed("master-replica-0", "10/10 - 1s - loss: 0.5 - accuracy: 0.7")  # no "step" in it
    assert log.progress() == {"done": 1, "total": 12, "unit": "epochs"}
    assert [p["series"] for p in log.points] == ["loss", "accuracy"]
    log.feed("master-replica-0", "Epoch 2/12")
    log.feed("master-replica-0", "Loading more data: 3 files")  # neither a bar nor metrics alone
    log.feed("master-replica-0", "Epoch 3/12")  # ends epoch 2, which printed no metrics
    assert log.progress() == {"done": 2, "total": 12, "unit": "epochs"}
    log.feed("master-replica-0", "loss: 0.25 - accuracy: 0.9")  # a metrics line of a trainer's own
    assert log.progress() == {"done": 3, "total": 12, "unit": "epochs"}
    log.feed("master-replica-0", "Epoch 12/12")
    log.finish()  # the trainer exited 0
    assert log.progress() == {"done": 12, "total": 12, "unit": "epochs"}
    log.feed("master-replica-0", "Epoch 1/5")  # a second fit() starts over
    assert log.progress() == {"done": 0, "total": 5, "unit": "epochs"}
