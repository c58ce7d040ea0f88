"""What trainers report with ``cloudml-hypertune``: JSON lines in the file
that ``CLOUD_ML_HP_METRIC_FILE`` names (the library keeps the last 100 and
rewrites the file each time), read back as (global_step, value) pairs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MetricReader"]


@dataclass
class MetricReader:
    """Every value a trial reported for its metric tag, in order, kept
    across reads (older lines leave the file once there are 100)."""

    path: Path
    tag: str
    seen: dict[tuple[float, int], float] = field(default_factory=dict)

    def read(self) -> list[tuple[int, float]]:
        """(global_step, value) of every report so far, oldest first."""
        try:
            text = self.path.read_text()
        except (OSError, UnicodeDecodeError):
            text = ""
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                value = float(entry[self.tag])
                key = (float(entry.get("timestamp", 0)), int(float(entry.get("global_step", 0) or 0)))
            except (ValueError, KeyError, TypeError):
                continue  # a line being written, or another tag's
            self.seen[key] = value
        return [(step, self.seen[(when, step)]) for when, step in sorted(self.seen)]
