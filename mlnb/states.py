"""The states and kinds that every layer and face speaks of: ML Engine's job
and version states, and the built-in job kinds.

They are ``StrEnum`` members, so they compare equal to the strings of the
v1 API (``job.state == "SUCCEEDED"`` holds) and JSON-encode as them; the
records' ``to_api()`` bodies carry their plain values. The legal moves
between job states are the jobs part's (``mlnb.jobs.states``).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ACTIVE", "ENDED", "JobKind", "JobState", "VersionState", "job_kind"]


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


class JobKind(StrEnum):
    """The job kinds mlnb ships (``mlnb.jobs.kinds`` registers them; a
    plug-in registers others under names of its own)."""

    TRAINING = "training"
    TUNING = "tuning"
    PREDICTION = "prediction"
    NOTEBOOK = "notebook"


def job_kind(name: str) -> JobKind | str:
    """The built-in kind named ``name``, or ``name`` itself for a plug-in's kind."""
    try:
        return JobKind(name)
    except ValueError:
        return name


class VersionState(StrEnum):
    """The ML Engine version states that mlnb's versions pass through (it
    neither updates a version's model in place nor deletes one slowly, so
    ``UPDATING`` and ``DELETING`` never occur)."""

    CREATING = "CREATING"
    READY = "READY"
    FAILED = "FAILED"
