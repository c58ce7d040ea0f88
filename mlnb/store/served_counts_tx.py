"""Served counts inside one transaction: each serving process appends what
it answered per version every flush period; readers sum them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from mlnb.store.schema import ServedCountsRow

# (project, model, version, period end, requests, errors, {bucket: count})
ServedCountsLine = tuple[str, str, str, datetime, int, int, dict[str, int]]


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
        query = select(ServedCountsRow).where(
            ServedCountsRow.project == project,
            ServedCountsRow.model == model,
            ServedCountsRow.period_end > since,
        )
        return [
            (r.project, r.model, r.version, r.period_end, r.requests, r.errors, dict(r.latency or {}))
            for r in self._session.scalars(query).all()
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
        query = select(ServedCountsRow).where(
            ServedCountsRow.period_end >= since, ServedCountsRow.period_end < before
        )
        minutes: dict[tuple[str, str, str, datetime], list[ServedCountsRow]] = {}
        for row in self._session.scalars(query).all():
            key = (row.project, row.model, row.version, _minute_end(row.period_end))
            minutes.setdefault(key, []).append(row)
        removed = 0
        for (project, model, version, end), rows in minutes.items():
            if len(rows) < 2:
                continue
            latency: Counter[str] = Counter()
            for row in rows:
                latency.update({str(k): int(v) for k, v in (row.latency or {}).items()})
            self._session.execute(delete(ServedCountsRow).where(ServedCountsRow.id.in_([r.id for r in rows])))
            self._session.add(
                ServedCountsRow(
                    project=project,
                    model=model,
                    version=version,
                    period_end=end,
                    requests=sum(r.requests for r in rows),
                    errors=sum(r.errors for r in rows),
                    latency=dict(latency),
                )
            )
            removed += len(rows) - 1
        return removed


def _minute_end(at: datetime) -> datetime:
    """The end of the minute ``at`` falls in: ``at`` itself when it is on one."""
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)
