"""Online prediction log entries inside one transaction: appended in
batches by the servers that answered, read back newest last."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mlnb.store.schema import PredictionLogRow

# (project, model, version, time, entry as JSON text)
PredictionLogLine = tuple[str, str, str, str, str]


class PredictionLogsTx:
    """The prediction logs' view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, lines: Sequence[PredictionLogLine]) -> None:
        if lines:
            self._session.execute(
                insert(PredictionLogRow),
                [{"project": p, "model": m, "version": v, "time": t, "entry": e} for p, m, v, t, e in lines],
            )

    def entries(
        self, project: str, model: str, limit: int, version: str | None = None, from_start: bool = False
    ) -> list[str]:
        """The entries of the last ``limit`` lines of a model (of one of its
        versions when given; the first ``limit``, ``from_start``), oldest first."""
        query = select(PredictionLogRow.entry).where(
            PredictionLogRow.project == project, PredictionLogRow.model == model
        )
        if version is not None:
            query = query.where(PredictionLogRow.version == version)
        if from_start:
            return list(self._session.scalars(query.order_by(PredictionLogRow.id).limit(limit)).all())
        query = query.order_by(PredictionLogRow.id.desc()).limit(limit)
        return list(reversed(self._session.scalars(query).all()))
