"""Served counts inside one transaction: each serving process appends what
it answered per version every flush period; readers sum them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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

    def lines_between(self, since: datetime, before: datetime) -> list[tuple[int, ServedCountsLine]]:
        """Every model's counts of periods that ended in [``since``,
        ``before``), each with its row's id (for ``replace``)."""
        # Plain rows, not ORM objects: a merge over many rows would fill the
        # session's identity map, and each delete would walk it (a day of
        # four servers' rows did not merge in 15 minutes).
        table = ServedCountsRow
        query = select(table.id, *_LINE).where(table.period_end >= since, table.period_end < before)
        return [
            (r.id, (r.project, r.model, r.version, r.period_end, r.requests, r.errors, dict(r.latency or {})))
            for r in self._session.execute(query).all()
        ]

    def replace(self, ids: Sequence[int], lines: Sequence[ServedCountsLine]) -> None:
        """Drop the rows ``ids`` and append ``lines`` in their place."""
        for start in range(0, len(ids), _IDS_A_STATEMENT):
            chunk = ids[start : start + _IDS_A_STATEMENT]
            self._session.execute(
                delete(ServedCountsRow)
                .where(ServedCountsRow.id.in_(chunk))
                .execution_options(synchronize_session=False)
            )
        self.append(lines)
