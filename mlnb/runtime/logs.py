"""Job logs: every line of every replica, with its time, replica name and
stream, and read back (or followed live) as ``LogEntry`` records.

The job host writes each line twice: to a JSON-lines file in the job's
folder on its own machine (its working copy: what the job's own progress
readers follow), and in batches to the metadata store (``StoredLog``),
which is what every Engine reads, from any machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import orjson

from mlnb.errors import MlnbError
from mlnb.runtime.batches import BatchSender

if TYPE_CHECKING:
    from mlnb.store import Database

SERVICE = "service"
# A longer line is cut: a log is for people, and one row must stay small.
MAX_MESSAGE_CHARS = 32_000


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


class LogReader(Protocol):
    """Something that reads a log a piece at a time (``LogTail``, ``StoredLogTail``)."""

    @property
    def position(self) -> int:
        """Where the next ``read`` starts: a later reader goes on from there."""
        ...

    def read(self, limit: int | None = None) -> list[LogEntry]:
        """The entries written since the last read (at most ``limit``)."""
        ...


@dataclass(frozen=True)
class LogPage:
    """A piece of a job's log: the entries from a position on, the position
    to ask from next, and whether the job had ended before they were read
    (then an empty page means the log is complete)."""

    entries: list[LogEntry]
    next_position: int
    job_ended: bool

    def to_api(self) -> dict[str, object]:
        """mlnb's ``jobs.logs`` answer: ``entries``, ``nextOffset``, ``jobEnded``."""
        return {
            "entries": [e.to_api() for e in self.entries],
            "nextOffset": self.next_position,
            "jobEnded": self.job_ended,
        }


class StoredLog:
    """A job's log lines in the metadata store."""

    def __init__(self, db: Database, project: str, job_id: str) -> None:
        self.db = db
        self.project = project
        self.job_id = job_id

    def append(self, entries: list[LogEntry]) -> None:
        """Add entries after the job's last line, in one transaction."""
        from mlnb.store import LogsTx

        lines = [(e.time, e.replica, e.stream, e.message[:MAX_MESSAGE_CHARS]) for e in entries]
        with self.db.session(write=True, serialize=False) as session:
            # One writer per job (its host) but a resumed job's second one
            # may overlap the first's last batch: the name orders them.
            self.db.lock_name(session, f"log:{self.project}/{self.job_id}")
            LogsTx(session).append(self.project, self.job_id, lines)

    def tail(self, position: int = 0) -> StoredLogTail:
        return StoredLogTail(self, position)


class StoredLogTail:
    """Reads a stored log a piece at a time; ``position`` counts lines."""

    _PAGE = 10_000

    def __init__(self, log: StoredLog, position: int = 0) -> None:
        self._log = log
        self._position = position

    @property
    def position(self) -> int:
        return self._position

    def read(self, limit: int | None = None) -> list[LogEntry]:
        from mlnb.store import LogsTx

        entries: list[LogEntry] = []
        while limit is None or len(entries) < limit:
            size = self._PAGE if limit is None else min(self._PAGE, limit - len(entries))
            with self._log.db.session() as session:
                page = LogsTx(session).read(self._log.project, self._log.job_id, self._position, size)
            entries.extend(LogEntry(*line) for line in page)
            self._position += len(page)
            if len(page) < size:
                break
        return entries


class LogWriter:
    """Appends entries to a job's log file, and to ``store`` (in batches,
    from a thread, every ``flush_s``) when given; safe from several threads.

    A batch the store refuses (the database busy or away) is kept and sent
    with the next one.
    """

    def __init__(
        self,
        path: Path,
        echo: Callable[[LogEntry], None] | None = None,
        store: StoredLog | None = None,
        flush_s: float = 0.5,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.echo = echo
        self._lock = threading.Lock()
        self._file = open(path, "ab")  # noqa: SIM115 - closed by close()
        self._batches: BatchSender[LogEntry] | None = None
        if store is not None:
            self._batches = BatchSender(
                store.append, flush_s=flush_s, on_error=self._lagging, name="log-flush"
            )

    def write(self, replica: str, stream: str, message: str, time: str | None = None) -> None:
        """Append one line; ``time`` (RFC 3339) when it was read elsewhere."""
        entry = LogEntry(time or utc_now(), replica, stream, message.rstrip("\r\n"))
        with self._lock:
            self._to_file(entry)
            if self._batches is not None:
                self._batches.add(entry)
            if self.echo is not None:
                self.echo(entry)

    def _to_file(self, entry: LogEntry) -> None:
        """Append one entry to the file (the caller holds the lock)."""
        self._file.write(orjson.dumps(entry.to_api()) + b"\n")
        self._file.flush()

    def flush(self) -> None:
        """Send what is pending to the store now.

        Raises:
            MlnbError: The store refused it (it stays pending).
        """
        if self._batches is not None:
            self._batches.flush()

    def _lagging(self, error: MlnbError) -> None:
        """The store refused a batch: the next round retries; the file says why it lags."""
        note = LogEntry(utc_now(), SERVICE, SERVICE, f"Storing the log failed, retrying: {error.message}")
        with self._lock:
            self._to_file(note)

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
        """Send what is pending (a last try), and close the file."""
        try:
            if self._batches is not None:
                self._batches.close()
        finally:
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

    def flush(self) -> None:
        self._parent.flush()

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

    def read(self, limit: int | None = None) -> list[LogEntry]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self._position)
            chunk = f.read()
            self._position = f.tell()
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        lines = [line for line in lines if line]
        if limit is not None and len(lines) > limit:
            # The rest waits for the next read; ``position`` stays before it.
            self._pending = b"".join(line + b"\n" for line in lines[limit:]) + self._pending
            lines = lines[:limit]
        return [LogEntry(**orjson.loads(line)) for line in lines]


def read_log(path: Path, follow: Callable[[], bool] | None = None, poll_s: float = 0.2) -> Iterator[LogEntry]:
    """Entries of a log file; with ``follow``, keep reading new lines while
    ``follow()`` is true (the job runs), then drain what is left."""
    return follow_log(LogTail(path), follow, poll_s)


def follow_log(
    tail: LogReader, follow: Callable[[], bool] | None = None, poll_s: float = 0.2
) -> Iterator[LogEntry]:
    """Entries of a log; with ``follow``, keep reading new ones while
    ``follow()`` is true (the job runs), then drain what is left."""
    while True:
        yield from tail.read()
        if follow is None:
            return
        if not follow():
            follow = None  # one last read catches lines written before the end
            continue
        time.sleep(poll_s)
