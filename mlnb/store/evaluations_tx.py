"""Evaluations of versions inside one transaction (added once, read newest
first), and versions' baselines (one a version)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
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

    def one(self, project: str, evaluation_id: str) -> EvaluationRecord | None:
        row = self._session.get(EvaluationRow, evaluation_id)
        return _evaluation(row) if row is not None and row.project == project else None

    def latest(self, project: str) -> dict[tuple[str, str], EvaluationRecord]:
        """The newest evaluation of each (model, version) of a project: one
        row a version read (the sidebar asks every second)."""
        newest = (
            select(EvaluationRow.model, EvaluationRow.version, func.max(EvaluationRow.time).label("time"))
            .where(EvaluationRow.project == project)
            .group_by(EvaluationRow.model, EvaluationRow.version)
            .subquery()
        )
        query = (
            select(EvaluationRow)
            .join(
                newest,
                (EvaluationRow.model == newest.c.model)
                & (EvaluationRow.version == newest.c.version)
                & (EvaluationRow.time == newest.c.time),
            )
            .where(EvaluationRow.project == project)
            .order_by(EvaluationRow.id)
        )
        latest: dict[tuple[str, str], EvaluationRecord] = {}
        for row in self._session.scalars(query).all():
            latest.setdefault((row.model, row.version), _evaluation(row))  # two at the same time: one
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

    def watched(self) -> list[tuple[str, str, str]]:
        """(project, model, version) of every baseline that has alerting."""
        query = select(BaselineRow.project, BaselineRow.model, BaselineRow.version).where(
            BaselineRow.alerting.is_not(None)
        )
        return [(p, m, v) for p, m, v in self._session.execute(query).all()]

    def checks(self) -> list[dict[str, Any]]:
        """Every baseline's last check, for the server's gauges and the
        sidebar (its profile is not read)."""
        query = select(
            BaselineRow.project, BaselineRow.model, BaselineRow.version, BaselineRow.last_check
        ).where(BaselineRow.last_check.is_not(None))
        return [
            {"project": p, "model": m, "version": v, "lastCheck": last}
            for p, m, v, last in self._session.execute(query).all()
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
