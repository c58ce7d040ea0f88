"""Served counts inside one transaction: each serving process appends what
it answered per version every flush period; readers sum them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from mlnb.store.schema import ServedCountsRow

# Ids deleted by one statement: within SQLite's bound on a statement's
# parameters (32,766), with room.
_IDS_A_STATEMENT = 10_000

# (project, model, version, period end, requests, errors, {bucket: count})
ServedCountsLine = tuple[str, str, str, datetime, int, int, dict[str, int]]


_LINE = (
    ServedCountsRow.project,
    ServedCountsRow.model,
    ServedCountsRow.version,
    ServedCountsRow.period_end,
    ServedCountsRow.requests,
    ServedCountsRow.errors,
    ServedCountsRow.latency,
)


class ServedCountsTx:
    """The served counts' view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, lines: Sequence[ServedCountsLine]) -> None:
        if lines:
            self._session.execute(
                insert(ServedCountsRow),
                [
                    {
                        "project": p,
                        "model": m,
                        "version": v,
                        "period_end": end,
                        "requests": requests,
                        "errors": errors,
                        "latency": latency,
                    }
                    for p, m, v, end, requests, errors, latency in lines
                ],
            )

    def since(self, project: str, model: str, since: datetime) -> list[ServedCountsLine]:
        """A model's counts of periods that ended after ``since``."""
        table = ServedCountsRow
        query = select(*_LINE).where(table.project == project, table.model == model, table.period_end > since)
        return [
            (r.project, r.model, r.version, r.period_end, r.requests, r.errors, dict(r.latency or {}))
            for r in self._session.execute(query).all()  # plain rows: no ORM object each
        ]

    def prune(self, before: datetime) -> None:
        """Drop the counts of periods that ended before ``before``."""
        self._session.execute(delete(ServedCountsRow).where(ServedCountsRow.period_end < before))

    def compact(self, since: datetime, before: datetime) -> int:
        """Merge the rows of each version's minute into one: the rows of
        periods that ended in [``since``, ``before``), grouped by the
        minute their period ended in (``(M - 1 min, M]``), each group of
        several rows replaced by their sum, ending at ``M``. ``before``
        must be on a minute, so that only whole minutes are merged; a
        minute merged already, or of one row, is left as it is (a row that
        comes late to it is merged with it next time). The rows removed."""
        # Plain rows, not ORM objects: a merge over many rows would fill the
        # session's identity map, and each delete would walk it (a day of
        # four servers' rows did not merge in 15 minutes).
        table = ServedCountsRow
        query = select(table.id, *_LINE).where(table.period_end >= since, table.period_end < before)
        minutes: dict[tuple[str, str, str, datetime], list[Any]] = {}
        for row in self._session.execute(query).all():
            key = (row.project, row.model, row.version, _minute_end(row.period_end))
            minutes.setdefault(key, []).append(row)
        merged: list[ServedCountsLine] = []
        gone: list[int] = []
        for (project, model, version, end), rows in minutes.items():
            if len(rows) < 2:
                continue
            latency: Counter[str] = Counter()
            for row in rows:
                latency.update({str(k): int(v) for k, v in (row.latency or {}).items()})
            gone.extend(row.id for row in rows)
            requests, errors = sum(r.requests for r in rows), sum(r.errors for r in rows)
            merged.append((project, model, version, end, requests, errors, dict(latency)))
        for start in range(0, len(gone), _IDS_A_STATEMENT):
            chunk = gone[start : start + _IDS_A_STATEMENT]
            self._session.execute(
                delete(table).where(table.id.in_(chunk)).execution_options(synchronize_session=False)
            )
        self.append(merged)
        return len(gone) - len(merged)


def _minute_end(at: datetime) -> datetime:
    """The end of the minute ``at`` falls in: ``at`` itself when it is on one."""
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)
