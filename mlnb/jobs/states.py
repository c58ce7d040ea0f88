"""Job states and the one table of legal transitions."""

from __future__ import annotations

from enum import StrEnum

from mlnb.errors import FailedPrecondition


class JobState(StrEnum):
    """ML Engine's job states."""

    QUEUED = "QUEUED"
    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"


ENDED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# States in which a job holds one of the concurrency slots.
ACTIVE = frozenset({JobState.PREPARING, JobState.RUNNING, JobState.CANCELLING})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.PREPARING, JobState.CANCELLED, JobState.FAILED}),
    JobState.PREPARING: frozenset({JobState.RUNNING, JobState.CANCELLING, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.CANCELLING, JobState.FAILED}),
    JobState.CANCELLING: frozenset({JobState.CANCELLED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def check_transition(job_id: str, current: str, new: str) -> None:
    """Raise unless ``current`` may move to ``new``.

    Raises:
        FailedPrecondition: The move is not in the table.
    """
    if JobState(new) not in TRANSITIONS[JobState(current)]:
        raise FailedPrecondition(f"Job {job_id!r} cannot go from {current} to {new}")
