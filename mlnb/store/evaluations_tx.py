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
        return [_evaluation(row) for row in rows]

    def latest(self, project: str, limit: int = 5000) -> dict[tuple[str, str], EvaluationRecord]:
        """The newest evaluation of each (model, version) of a project, among its last ``limit``."""
        query = select(EvaluationRow).where(EvaluationRow.project == project)
        rows = self._session.scalars(query.order_by(EvaluationRow.time.desc()).limit(limit)).all()
        latest: dict[tuple[str, str], EvaluationRecord] = {}
        for row in rows:
            latest.setdefault((row.model, row.version), _evaluation(row))
        return latest


def _evaluation(row: EvaluationRow) -> EvaluationRecord:
    return EvaluationRecord(
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


class BaselinesTx:
    """Versions' baselines in one open transaction: one a version, replaced
    when set again, with how its drift is watched and the last check."""

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
        alerting: dict[str, Any] | None = None,
    ) -> None:
        row = self._session.get(BaselineRow, (project, model, version))
        if row is None:
            row = BaselineRow(project=project, model=model, version=version)
            self._session.add(row)
        row.time, row.actor, row.source, row.profile = time, actor, source, profile
        row.alerting, row.last_check, row.alerted = alerting, None, None

    def get(self, project: str, model: str, version: str) -> dict[str, Any] | None:
        """``{"time", "actor", "source", "profile", "alerting", "lastCheck", "alerted"}``, or None."""
        row = self._session.get(BaselineRow, (project, model, version))
        return None if row is None else _baseline(row)

    def watched(self) -> list[dict[str, Any]]:
        """Every baseline that has alerting, with its project, model and version."""
        rows = self._session.scalars(select(BaselineRow).where(BaselineRow.alerting.is_not(None))).all()
        return [
            _baseline(row) | {"project": row.project, "model": row.model, "version": row.version}
            for row in rows
        ]

    def checks(self) -> list[dict[str, Any]]:
        """Every baseline's last check, for the server's gauges."""
        rows = self._session.scalars(select(BaselineRow).where(BaselineRow.last_check.is_not(None))).all()
        return [
            {"project": r.project, "model": r.model, "version": r.version, "lastCheck": r.last_check}
            for r in rows
        ]

    def record_check(
        self, project: str, model: str, version: str, check: dict[str, Any], drifted: list[str]
    ) -> list[str] | None:
        """Keep a check's figures; the features alerted before (None: no
        alert yet). The caller alerts when they differ from ``drifted``."""
        # Locked: of two hosts checking at once, the second sees the first's alert.
        row = self._session.get(BaselineRow, (project, model, version), with_for_update=True)
        if row is None:
            return None
        before = list(row.alerted) if row.alerted is not None else None
        row.last_check = check
        row.alerted = drifted
        return before


def _baseline(row: BaselineRow) -> dict[str, Any]:
    return {
        "time": row.time,
        "actor": row.actor,
        "source": row.source,
        "profile": row.profile,
        "alerting": row.alerting,
        "lastCheck": row.last_check,
        "alerted": row.alerted,
    }
