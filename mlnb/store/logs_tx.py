"""Job log lines inside one transaction: appended in batches, read by
position (a job's lines are numbered from 0 in the order they were
written), so that any machine follows a job's log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from mlnb.store.schema import JobLogLineRow

# (time, replica, stream, message)
LogLine = tuple[str, str, str, str]


class LogsTx:
    """The job logs' view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, project: str, job_id: str, lines: Sequence[LogLine]) -> int:
        """Add ``lines`` after the job's last line; the number the next one gets."""
        last = self._session.scalar(
            select(func.max(JobLogLineRow.seq)).where(
                JobLogLineRow.project == project, JobLogLineRow.job_id == job_id
            )
        )
        first = 0 if last is None else last + 1
        if lines:
            self._session.execute(
                insert(JobLogLineRow),
                [
                    {
                        "project": project,
                        "job_id": job_id,
                        "seq": first + n,
                        "time": time,
                        "replica": replica,
                        "stream": stream,
                        "message": message,
                    }
                    for n, (time, replica, stream, message) in enumerate(lines)
                ],
            )
        return first + len(lines)

    def read(self, project: str, job_id: str, position: int, limit: int) -> list[LogLine]:
        """Up to ``limit`` lines from number ``position`` on."""
        query = (
            select(JobLogLineRow.time, JobLogLineRow.replica, JobLogLineRow.stream, JobLogLineRow.message)
            .where(
                JobLogLineRow.project == project,
                JobLogLineRow.job_id == job_id,
                JobLogLineRow.seq >= position,
            )
            .order_by(JobLogLineRow.seq)
            .limit(limit)
        )
        return [(t, r, s, m) for t, r, s, m in self._session.execute(query).all()]
