"""Pipeline steps' cached outputs inside one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mlnb.store.schema import PipelineCacheRow

__all__ = ["PipelinesTx"]


class PipelinesTx:
    """The pipeline cache's view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def cached(self, project: str, key: str) -> dict[str, Any] | None:
        """The outputs of a step given what ``key`` hashes, if one ran."""
        row = self._session.get(PipelineCacheRow, (project, key))
        return dict(row.outputs) if row is not None else None

    def keep(
        self,
        project: str,
        key: str,
        step: str,
        pipeline: str,
        action: str,
        outputs: dict[str, Any],
        at: datetime,
    ) -> None:
        """Keep a step's outputs under ``key`` (the latest run's, if one was kept)."""
        row = self._session.get(PipelineCacheRow, (project, key))
        if row is None:
            self._session.add(
                PipelineCacheRow(
                    project=project,
                    key=key,
                    step=step,
                    pipeline=pipeline,
                    action=action,
                    outputs=outputs,
                    time=at,
                )
            )
        else:
            row.step, row.pipeline, row.outputs, row.time = step, pipeline, outputs, at

    def forget(self, project: str, key: str) -> None:
        """Drop a cached entry whose outputs are gone (a deleted version)."""
        row = self._session.get(PipelineCacheRow, (project, key))
        if row is not None:
            self._session.delete(row)
