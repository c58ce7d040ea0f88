"""Evaluations of versions inside one transaction (added once, read newest
first), and versions' baselines (one a version)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlnb.records import EvaluationRecord
from mlnb.store.schema import BaselineRow, EvaluationRow


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


class BaselinesTx:
    """Versions' baselines in one open transaction: one a version, replaced when set again."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def put(
        self,
        project: str,
        model: str,
        version: str,
        time: datetime,
        actor: str,
        source: str,
        profile: dict[str, Any],
    ) -> None:
        row = self._session.get(BaselineRow, (project, model, version))
        if row is None:
            self._session.add(
                BaselineRow(
                    project=project,
                    model=model,
                    version=version,
                    time=time,
                    actor=actor,
                    source=source,
                    profile=profile,
                )
            )
        else:
            row.time, row.actor, row.source, row.profile = time, actor, source, profile

    def get(self, project: str, model: str, version: str) -> dict[str, Any] | None:
        """``{"time", "actor", "source", "profile"}``, or None."""
        row = self._session.get(BaselineRow, (project, model, version))
        if row is None:
            return None
        return {"time": row.time, "actor": row.actor, "source": row.source, "profile": row.profile}
