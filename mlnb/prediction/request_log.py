"""Online prediction logging: when a model has onlinePredictionLogging, each
request and response (sampled by its version's
``requestLoggingConfig.samplingPercentage``) is appended to a log that the
Engine and the CLI read back."""

from __future__ import annotations

import logging
import os
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("mlnb.predictions")


class PredictionLog:
    """JSON lines per model under ``root/PROJECT/MODEL.jsonl``; each entry is
    one ``write`` on a file opened for appending, so that several server
    processes can share the file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, project: str, model: str) -> Path:
        return self.root / project / f"{model}.jsonl"

    def write(
        self,
        project: str,
        model: str,
        version: str,
        instances: Any,
        predictions: Any = None,
        error: str | None = None,
        console: bool = False,
    ) -> None:
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "model": model,
            "version": version,
            "instances": instances,
        }
        if error is not None:
            entry["error"] = error
        else:
            entry["predictions"] = predictions
        line = orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        path = self._path(project, model)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
        if console:
            log.info("%s/%s: %s", model, version, line.decode().rstrip())

    def read(self, project: str, model: str, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` entries, oldest first."""
        path = self._path(project, model)
        if not path.exists():
            return []
        with open(path, "rb") as f:
            lines = deque(f, maxlen=limit)
        return [orjson.loads(line) for line in lines if line.strip()]
