"""The one table of legal moves between job states."""

from __future__ import annotations

from mlnb.errors import FailedPrecondition
from mlnb.states import ACTIVE, ENDED, JobState

__all__ = ["ACTIVE", "ENDED", "TRANSITIONS", "JobState", "check_transition"]


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
