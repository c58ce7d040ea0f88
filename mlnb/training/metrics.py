"""What a trainer reports while it runs, read from what it leaves behind:
Keras's epoch lines in its log, and TensorBoard scalars in its job
directory (a local folder or an object-store URL). The job panel's
progress bar and chart, and a training job's progress, come from here."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import fsspec

from mlnb.runtime.logs import LogReader
from mlnb.runtime.tfrecord import TFRecordError, read_records

# "Epoch 3/10", as Keras prints it before each epoch.
_EPOCH = re.compile(r"^\s*Epoch (\d+)/(\d+)\s*$")
# "accuracy: 0.9500" in Keras's end-of-epoch line ("32/32 - 1s - 3ms/step - accuracy: 0.95 - loss: 0.1").
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_METRIC = re.compile(rf"(?:^|\s-\s|\s)([A-Za-z_][\w]*): ({_NUMBER})")
# The end of an epoch: Keras's last drawing of its bar ("32/32 - 1s - loss:
# 0.1", "32/32 ━━━━ 1s 3ms/step - loss: 0.1"), or a line of metrics alone
# ("loss: 0.1 - accuracy: 0.95").
_BAR = re.compile(r"^\s*\d+/\d+\b")
_ONLY_METRICS = re.compile(rf"^\s*[A-Za-z_]\w*: {_NUMBER}(?:\s+-\s+[A-Za-z_]\w*: {_NUMBER})*\s*$")
_CHIEF_PREFIXES = ("master", "chief")


@dataclass
class EpochLog:
    """Epochs and their metrics from a trainer's log lines, fed one by one."""

    epoch: int = 0
    total: int = 0
    done: int = 0
    points: list[dict[str, Any]] = field(default_factory=list)

    def feed(self, replica: str, message: str) -> None:
        """One log line; only the chief's count (workers print the same
        epochs). An epoch ends at its metrics line, at the next ``Epoch``
        line, or when the job does (``finish``)."""
        if not replica.rsplit("/", 1)[-1].startswith(_CHIEF_PREFIXES):
            return
        # Keras redraws its progress bar with carriage returns: the last drawing counts.
        line = message.replace("\x08", "").split("\r")[-1]
        started = _EPOCH.match(line)
        if started:
            number, total = int(started.group(1)), int(started.group(2))
            if number > self.epoch:
                self.done = max(self.done, self.epoch)  # the next Epoch line ends the one before
            else:
                self.done = number - 1  # a new fit() starts over
            self.epoch, self.total = number, total
            return
        if self.epoch and self.epoch > self.done and (_BAR.match(line) or _ONLY_METRICS.match(line)):
            metrics = {name: float(value) for name, value in _METRIC.findall(line)}
            if metrics:
                self.done = self.epoch
                self.points += [
                    {"series": name, "step": self.epoch, "value": value} for name, value in metrics.items()
                ]

    def finish(self) -> None:
        """The trainer ended well: the epoch it was in is done too."""
        self.done = max(self.done, self.epoch)

    def progress(self) -> dict[str, Any] | None:
        """``{"done", "total", "unit": "epochs"}`` once an epoch started."""
        return {"done": self.done, "total": self.total, "unit": "epochs"} if self.total else None


class TrainingMetrics:
    """A training job's reports, read a piece at a time: only the log lines
    written since the last read feed the epoch parser, and the TensorBoard
    files are read again only when one changed size. The job's progress and
    the job panel's chart both follow it."""

    def __init__(self, log: LogReader, job_dir: str | None = None) -> None:
        self._log = log
        self._job_dir = job_dir
        self._epochs = EpochLog()
        self._event_sizes: dict[str, int] = {}
        self._scalars: list[dict[str, Any]] = []

    def progress(self) -> dict[str, Any] | None:
        """Epochs done of epochs in all (:meth:`EpochLog.progress`)."""
        self._read_log()
        return self._epochs.progress()

    def finish(self) -> None:
        """The trainer ended well: every epoch it began is done."""
        self._read_log()
        self._epochs.finish()

    def read(self) -> list[dict[str, Any]]:
        """Every point so far: epoch metrics, then TensorBoard scalars."""
        self._read_log()
        files = _event_files(self._job_dir)
        if files.sizes != self._event_sizes:
            self._event_sizes = files.sizes
            self._scalars = files.scalars()
        return self._epochs.points + self._scalars

    def _read_log(self) -> None:
        for entry in self._log.read():
            self._epochs.feed(entry.replica, entry.message)


def _event_files(job_dir: str | None) -> EventFiles:
    """The TensorBoard event files under a job directory (a local folder or
    an fsspec URL: ``s3://``, ``gs://``...), with their sizes."""
    if not job_dir:
        return EventFiles()
    try:
        fs, root = fsspec.core.url_to_fs(job_dir)
        fs.invalidate_cache()  # a listing cached by s3fs would hide new files
        found = fs.find(root, detail=True)
    except (ImportError, ValueError, OSError):
        return EventFiles()  # no such folder (yet), or its library is missing
    sizes = {
        path: int(info.get("size") or 0)
        for path, info in found.items()
        if posixpath.basename(path).startswith("events.out.tfevents.")
    }
    return EventFiles(fs, root.rstrip("/"), sizes)


@dataclass
class EventFiles:
    """Event files of one job directory, by path inside ``fs``."""

    fs: Any = None
    root: str = ""
    sizes: dict[str, int] = field(default_factory=dict)

    def scalars(self, limit: int = 20000) -> list[dict[str, Any]]:
        """Every scalar in the files, up to ``limit`` points."""
        if not self.sizes:
            return []
        try:
            from tensorboard.compat.proto import event_pb2
            from tensorboard.util import tensor_util
        except ImportError:
            return []
        points: list[dict[str, Any]] = []
        for path in sorted(self.sizes):
            run = posixpath.relpath(posixpath.dirname(path), self.root) if self.root else "."
            try:
                with self.fs.open(path, "rb") as stream:
                    for record in read_records(stream, path):
                        event = event_pb2.Event.FromString(record)
                        for value in event.summary.value:
                            if value.HasField("simple_value"):
                                number = float(value.simple_value)
                            elif value.HasField("tensor") and not value.tensor.tensor_shape.dim:
                                number = float(tensor_util.make_ndarray(value.tensor).item())
                            else:
                                continue
                            series = value.tag if run == "." else f"{run}/{value.tag}"
                            points.append({"series": series, "step": int(event.step), "value": number})
                            if len(points) >= limit:
                                return points
            except (TFRecordError, OSError, ValueError):
                continue  # a file being written ends mid-record: what was read counts
        return points


def tensorboard_scalars(job_dir: str | None, limit: int = 20000) -> list[dict[str, Any]]:
    """Scalars of the TensorBoard event files under a job directory (a
    local folder or an fsspec URL): ``{"series": "train/epoch_loss",
    "step", "value"}`` (the series named by the file's folder and the tag).
    Empty without TensorBoard installed or without event files."""
    return _event_files(job_dir).scalars(limit)
