"""Served counts inside one transaction: each serving process appends what
it answered per version every flush period; readers sum them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
