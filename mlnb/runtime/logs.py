"""Job logs: every line of every replica, with its time, replica name and
stream, appended as JSON lines to the job's log file, and read back (or
followed live) as ``LogEntry`` records."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson

SERVICE = "service"


@dataclass(frozen=True)
class LogEntry:
    """One log line.

    Attributes:
        time: When the line was read from the replica, RFC 3339 UTC.
        replica: ``master-replica-0``, ``worker-replica-1``, ``ps-replica-0``,
            or ``service`` for mlnb's own lines about the job.
        stream: ``stdout``, ``stderr`` or ``service``.
        message: The line, without its newline.
    """

    time: str
    replica: str
    stream: str
    message: str

    def format(self) -> str:
        """``TIME  REPLICA  MESSAGE``, as ``mlnb jobs stream-logs`` prints it."""
        marker = "!" if self.stream == "stderr" else " "
        return f"{self.time}  {self.replica:<18}{marker} {self.message}"

    def to_api(self) -> dict[str, str]:
        return {"time": self.time, "replica": self.replica, "stream": self.stream, "message": self.message}


def utc_now() -> str:
    """The current time as RFC 3339 UTC with microseconds."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class LogWriter:
    """Appends entries to a job's log file; safe from several threads."""

    def __init__(self, path: Path, echo: Callable[[LogEntry], None] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.echo = echo
        self._lock = threading.Lock()
        self._file = open(path, "ab")  # noqa: SIM115 - closed by close()

    def write(self, replica: str, stream: str, message: str, time: str | None = None) -> None:
        """Append one line; ``time`` (RFC 3339) when it was read elsewhere."""
        entry = LogEntry(time or utc_now(), replica, stream, message.rstrip("\r\n"))
        line = orjson.dumps(entry.to_api()) + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            if self.echo is not None:
                self.echo(entry)

    def service(self, message: str) -> None:
        """A line from mlnb itself about the job."""
        self.write(SERVICE, SERVICE, message)

    def pump(
        self, stream: IO[bytes], replica: str, name: str, tail: Callable[[str], None] | None = None
    ) -> threading.Thread:
        """Copy a replica's pipe into the log, line by line, in a thread."""

        def run() -> None:
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", errors="replace")
                self.write(replica, name, text)
                if tail is not None:
                    tail(text.rstrip("\r\n"))
            stream.close()

        thread = threading.Thread(target=run, name=f"log-{replica}-{name}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def for_trial(self, trial_id: str) -> LogWriter:
        """The same log, for one trial of a tuning job: its replicas are
        named ``trial-3/master-replica-0`` and mlnb's lines about it begin
        with ``Trial 3:``."""
        return _TrialLog(self, trial_id)


class _TrialLog(LogWriter):
    def __init__(self, parent: LogWriter, trial_id: str) -> None:  # shares the parent's file
        self.path = parent.path
        self.echo = parent.echo
        self._parent = parent
        self._trial = trial_id

    def write(self, replica: str, stream: str, message: str, time: str | None = None) -> None:
        if replica == SERVICE:
            self._parent.write(SERVICE, stream, f"Trial {self._trial}: {message}", time)
        else:
            self._parent.write(f"trial-{self._trial}/{replica}", stream, message, time)

    def close(self) -> None:
        """The parent's file stays open for the other trials."""


class LogTail:
    """Reads a log file a piece at a time: each ``read`` returns the entries
    completed since the last one (a line still being written waits)."""

    def __init__(self, path: Path, position: int = 0) -> None:
        self.path = path
        self._position = position
        self._pending = b""

    @property
    def position(self) -> int:
        """The byte offset just after the last entry read: a later
        ``LogTail(path, position)`` goes on from there."""
        return self._position - len(self._pending)

    def read(self) -> list[LogEntry]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self._position)
            chunk = f.read()
            self._position = f.tell()
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        return [LogEntry(**orjson.loads(line)) for line in lines if line]


def read_log(path: Path, follow: Callable[[], bool] | None = None, poll_s: float = 0.2) -> Iterator[LogEntry]:
    """Entries of a log file; with ``follow``, keep reading new lines while
    ``follow()`` is true (the job runs), then drain what is left."""
    tail = LogTail(path)
    while True:
        yield from tail.read()
        if follow is None:
            return
        if not follow():
            follow = None  # one last read catches lines written before the end
            continue
        time.sleep(poll_s)
