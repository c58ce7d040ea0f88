"""Online prediction logging: when a model has onlinePredictionLogging, each
request and response (sampled by its version's
``requestLoggingConfig.samplingPercentage``) is kept in the metadata store,
where the Engine and the CLI of any machine read it back, whichever server
answered.

A server sends its entries in batches (every half second, and when its
Engine closes): one write transaction per batch, not one per prediction.
A server killed hard loses at most its last half second of entries.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mlnb.errors import MlnbError
from mlnb.runtime.batches import BatchSender

if TYPE_CHECKING:
    from mlnb.store import Database
    from mlnb.store.prediction_logs_tx import PredictionLogLine

log = logging.getLogger("mlnb.predictions")


class PredictionLog:
    """The prediction log of one metadata store.

    ``legacy`` is the folder of JSON-lines files (``PROJECT/MODEL.jsonl``)
    where older mlnb logged on each serving machine: its entries are
    moved into the store the first time this machine logs or reads.
    """

    def __init__(self, db: Database, legacy: Path | None = None, flush_s: float = 0.5) -> None:
        self._db = db
        self._legacy = legacy
        self._flush_s = flush_s
        self._batches: BatchSender[PredictionLogLine] | None = None
        self._started = threading.Lock()

    def write(
        self,
        project: str,
        model: str,
        version: str,
        instances: Any,
        predictions: Any = None,
        error: str | None = None,
        console: bool = False,
        latency_ms: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one entry for the store (with the model's time to answer,
        ``latencyMs``, when given, and ``extra`` fields: a shadow's).

        Raises:
            TypeError: The request or answer is not JSON-ready.
        """
        entry: dict[str, Any] = {"time": _now(), "model": model, "version": version, "instances": instances}
        if error is not None:
            entry["error"] = error
        if predictions is not None:
            entry["predictions"] = predictions
        if latency_ms is not None:
            entry["latencyMs"] = round(latency_ms, 3)
        if extra:
            entry.update(extra)
        text = orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        self._sender().add((project, model, version, entry["time"], text))
        if console:
            log.info("%s/%s: %s", model, version, text)

    def read(
        self,
        project: str,
        model: str,
        limit: int = 100,
        version: str | None = None,
        from_start: bool = False,
    ) -> list[dict[str, Any]]:
        """The last ``limit`` entries (the first, ``from_start``) of a model,
        or of one version when given, oldest first (this process's pending
        ones included)."""
        from mlnb.store import PredictionLogsTx

        self._import_legacy()
        if self._batches is not None:
            self._batches.flush()
        with self._db.session() as session:
            texts = PredictionLogsTx(session).entries(project, model, limit, version, from_start)
        return [orjson.loads(text) for text in texts]

    def close(self) -> None:
        """Send what is pending (a last try)."""
        if self._batches is not None:
            try:
                self._batches.close()
            except MlnbError as e:
                log.warning("Could not store the last prediction log entries: %s", e.message)

    def _sender(self) -> BatchSender[PredictionLogLine]:
        # Started on the first logged prediction: an Engine that never
        # serves (a CLI command, a notebook) starts no thread.
        with self._started:
            if self._batches is None:
                self._import_legacy()
                self._batches = BatchSender(
                    self._store, flush_s=self._flush_s, on_error=self._lagging, name="prediction-log-flush"
                )
            return self._batches

    def _store(self, lines: list[PredictionLogLine]) -> None:
        from mlnb.store import PredictionLogsTx

        with self._db.session(write=True, serialize=False) as session:
            PredictionLogsTx(session).append(lines)

    @staticmethod
    def _lagging(error: MlnbError) -> None:
        log.warning("Storing prediction log entries failed, retrying: %s", error.message)

    def _import_legacy(self) -> None:
        """Move this machine's old log files into the store, once: the
        folder is renamed first, so that of several processes one imports."""
        from mlnb.store import PredictionLogsTx

        if self._legacy is None or not self._legacy.is_dir():
            return
        moving = self._legacy.with_name(f"{self._legacy.name}.importing-{os.getpid()}")
        try:
            os.rename(self._legacy, moving)
        except OSError:
            return  # another process took it
        try:
            lines = list(_legacy_lines(moving))
            with self._db.session(write=True) as session:
                PredictionLogsTx(session).append(lines)
        except BaseException:
            os.rename(moving, self._legacy)  # the next reader tries again
            raise
        os.rename(moving, self._legacy.with_name(f"{self._legacy.name}.imported"))
        log.info("Moved %d prediction log entries from %s into the store", len(lines), self._legacy)


def _legacy_lines(folder: Path) -> Iterator[PredictionLogLine]:
    for path in sorted(folder.glob("*/*.jsonl")):
        project, model = path.parent.name, path.stem
        for raw in path.read_bytes().splitlines():
            if raw.strip():
                entry = orjson.loads(raw)
                yield project, model, str(entry.get("version", "")), str(entry.get("time", "")), raw.decode()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
