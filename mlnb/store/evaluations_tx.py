"""Evaluations of versions inside one transaction: added once, read newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlnb.records import EvaluationRecord
from mlnb.store.schema import EvaluationRow


class EvaluationsTx:
    """The evaluations' view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: EvaluationRecord) -> None:
        self._session.add(
            EvaluationRow(
                id=record.evaluation_id,
                project=record.project,
                model=record.model,
                version=record.version,
                time=record.time,
                actor=record.actor,
                dataset=record.dataset,
                fingerprint=record.fingerprint,
                task=record.task,
                target=record.target,
                rows=record.rows,
                metrics=record.metrics,
            )
        )

    def list(
        self, project: str, model: str, version: str | None = None, limit: int = 100
    ) -> list[EvaluationRecord]:
        """A model's evaluations (one version's when given), newest first."""
        query = select(EvaluationRow).where(EvaluationRow.project == project, EvaluationRow.model == model)
        if version is not None:
            query = query.where(EvaluationRow.version == version)
        rows = self._session.scalars(query.order_by(EvaluationRow.time.desc()).limit(limit)).all()
        return [
            EvaluationRecord(
                project=row.project,
                model=row.model,
                version=row.version,
                evaluation_id=row.id,
                time=row.time,
                actor=row.actor,
                dataset=row.dataset,
                fingerprint=row.fingerprint,
                task=row.task,
                target=row.target,
                rows=row.rows,
                metrics=row.metrics,
            )
            for row in rows
        ]
