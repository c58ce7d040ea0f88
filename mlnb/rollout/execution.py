"""A rollout job's execution: the canary takes each step's share of the
model's traffic (the other versions share the rest as they did before),
its requests since the step began are read every few seconds from the
served counts every server keeps in the store (``mlnb.prediction.served``:
whether or not the model logs its requests), and the split moves on after
each interval while the error rate and the p99 of the time to answer stay
within bounds. Past a bound (once
``minRequests`` requests are in) the split before the rollout comes back
at once and the job ends FAILED, saying why. After the last step the
canary becomes the default and takes all traffic. Cancelling the job
rolls back too. Each step and the reason of a rollback are in the model's
history (``TRAFFIC_CHANGED`` with its ``reason``)."""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, MlnbError
from mlnb.prediction import ServedCounts
from mlnb.prediction.served import Tally
from mlnb.records import JobRecord
from mlnb.registry import ModelRegistry
from mlnb.rollout.spec import RolloutSpec
from mlnb.runtime.execution import JobContext, Outcome
from mlnb.runtime.logs import LogWriter
from mlnb.runtime.notifications import Channels, ModelNotifier
from mlnb.states import JobState
from mlnb.store import Database

__all__ = ["RolloutExecution", "step_split"]

_SAMPLES = 360


def step_split(before: dict[str, int], canary: str, share: int) -> dict[str, int]:
    """The split with ``canary`` at ``share`` percent and the other versions
    of ``before`` sharing the rest in their proportions (rounded so that
    the shares add up to 100; the largest keeps the remainder)."""
    others = {k: v for k, v in before.items() if k != canary and v > 0}
    rest = 100 - share
    if not others or rest == 0:
        return {canary: 100}
    total = sum(others.values())
    shares = {k: rest * v // total for k, v in others.items()}
    largest = max(others, key=lambda k: (others[k], k))
    shares[largest] += rest - sum(shares.values())
    return {canary: share, **{k: v for k, v in shares.items() if v > 0}}


class RolloutExecution:
    """One rollout, driven by the job host's runner."""

    def __init__(self, context: JobContext) -> None:
        if context.database is None:
            raise FailedPrecondition("A rollout needs the metadata store")
        job = context.job
        self.spec = RolloutSpec.from_api(job.job_input or {})
        self.project = job.project
        self.job_id = job.job_id
        self.log: LogWriter = context.log
        settings = context.settings
        tell = ModelNotifier(Channels.of(settings))
        self.registry = ModelRegistry(context.database, settings.model_quota, settings.version_quota, tell)
        self.served = ServedCounts(context.database)
        self.actor = f"rollout job {job.job_id}"
        self.before: dict[str, int] = {}
        self.step = 0
        self.step_started = datetime.now(UTC)
        self.waited_for_requests = False
        self.last: dict[str, Any] = {}
        self.others: dict[str, Any] = {}  # the same figures of the versions beside the canary
        self.history: list[dict[str, Any]] = []
        # The figures at each look, for the panel's chart over time (the
        # newest _SAMPLES: a day of looks every few seconds would not fit).
        self.series: deque[dict[str, Any]] = deque(maxlen=_SAMPLES)
        self.started = datetime.now(UTC)
        self.outcome: Outcome | None = None
        self._last_look = 0.0
        self._look_s = min(5.0, max(0.2, self.spec.interval_s / 4))

    @classmethod
    def for_job(cls, context: JobContext) -> RolloutExecution:
        return cls(context)

    def prepare(self) -> None:
        spec = self.spec
        model = self.registry.get_model(self.project, spec.model)
        canary = self.registry.get_version(self.project, spec.model, spec.canary)
        if model.default_version is None:
            raise FailedPrecondition(f"Model {spec.model!r} has no default version to roll out from")
        if canary.is_default and not model.traffic_split:
            raise FailedPrecondition(f"Version {spec.canary!r} is already the default and takes all traffic")
        if spec.gates:
            self.registry.check_version_gates(self.project, spec.model, spec.canary, spec.gates)
        self.before = dict(model.traffic_split) or {model.default_version.name: 100}
        said = ", ".join(f"{k}={v}" for k, v in self.before.items())
        self.log.service(
            f"Rolling {spec.canary} out to model {spec.model} in steps of {list(spec.steps)}%, "
            f"{spec.interval_s:g} s each, from the split {said}"
        )

    def start(self) -> None:
        self._enter_step(0)

    def _enter_step(self, step: int) -> None:
        share = self.spec.steps[step]
        split = step_split(self.before, self.spec.canary, share)
        steps = len(self.spec.steps)
        reason = f"rollout {self.job_id}: step {step + 1} of {steps}, {self.spec.canary} at {share}%"
        self.registry.set_traffic(self.project, self.spec.model, self.actor, split, reason=reason)
        self.step, self.step_started, self.waited_for_requests = step, datetime.now(UTC), False
        self.log.service(f"Step {step + 1} of {len(self.spec.steps)}: {self._said(split)}")

    def poll(self) -> Outcome | None:
        if self.outcome is not None:
            return self.outcome
        if time.monotonic() - self._last_look < self._look_s:
            return None
        self._last_look = time.monotonic()
        tallies = self.served.tallies(self.project, self.spec.model, self.step_started)
        figures = tallies.get(self.spec.canary, Tally()).figures()
        self.last = figures
        others = Tally.summed(t for version, t in tallies.items() if version != self.spec.canary)
        self.others = others.figures()
        self.series.append(
            {
                "seconds": round((datetime.now(UTC) - self.started).total_seconds(), 1),
                "share": self._share(),
                "canary": _sample(figures),
                "others": _sample(self.others),
            }
        )
        broken = self._broken(figures)
        if broken:
            self._roll_back(f"{self.spec.canary} {broken} at step {self.step + 1} ({self._share()}%)")
            self.outcome = Outcome(
                JobState.FAILED,
                f"Rolled back: {self.spec.canary} {broken} at {self._share()}% of the traffic "
                f"({figures['requests']} requests); the split is as it was before the rollout.",
            )
            return self.outcome
        elapsed = (datetime.now(UTC) - self.step_started).total_seconds()
        if elapsed < self.spec.interval_s:
            return None
        if figures["requests"] < self.spec.min_requests:
            if not self.waited_for_requests:
                self.log.service(
                    f"Step {self.step + 1}: {figures['requests']} of the {self.spec.min_requests} requests "
                    "needed to judge it; waiting for more"
                )
                self.waited_for_requests = True
            return None
        self.history.append({"step": self.step + 1, "share": self._share(), **figures, "others": self.others})
        self.log.service(f"Step {self.step + 1} passed: {self._figures(figures)}")
        if self.step + 1 < len(self.spec.steps):
            self._enter_step(self.step + 1)
            return None
        self.registry.set_default_version(self.project, self.spec.model, self.spec.canary, self.actor)
        reason = f"rollout {self.job_id}: done, {self.spec.canary} is the default"
        self.registry.set_traffic(self.project, self.spec.model, self.actor, {}, reason=reason)
        self.log.service(
            f"{self.spec.canary} is the default of model {self.spec.model} and takes all traffic"
        )
        self.outcome = Outcome(JobState.SUCCEEDED)
        return self.outcome

    def _broken(self, figures: dict[str, Any]) -> str | None:
        """Which bound the canary crossed, in words, or ``None``."""
        if figures["requests"] < max(1, self.spec.min_requests):
            return None
        rate, bound = figures["errorRate"], self.spec.max_error_rate
        if bound is not None and rate > bound:
            return f"failed {rate:.1%} of its requests (bound {bound:.1%})"
        p99, most = figures["latencyP99Ms"], self.spec.max_latency_p99_ms
        if most is not None and p99 is not None and p99 > most:
            return f"answered in {p99:.1f} ms at p99 (bound {most:g} ms)"
        return None

    def _roll_back(self, why: str) -> None:
        reason = f"rollout {self.job_id} rolled back: {why}"
        self.registry.set_traffic(self.project, self.spec.model, self.actor, self._restored(), reason=reason)
        self.log.service(f"Rolled back to {self._said(self.before)}: {why}")

    def _restored(self) -> dict[str, int]:
        # A split of one version at 100 is the default alone: no split.
        return {} if len(self.before) == 1 else dict(self.before)

    def stop(self, grace_s: float) -> None:
        """Cancelled (or the host stops): the split before the rollout comes back."""
        if self.outcome is None:
            try:
                self._roll_back("the rollout was stopped")
            except MlnbError as e:
                self.log.service(f"Could not roll back: {e.message}")

    def close(self) -> None:
        """Nothing held."""

    def progress(self) -> dict[str, Any] | None:
        return {
            "done": len(self.history),
            "total": len(self.spec.steps),
            "unit": "steps",
            "canary": self.spec.canary,
            "share": self._share(),
            # The split to restore should its host die (restore_abandoned).
            "before": self.before,
            "series": list(self.series),
            "last": self.last,
            "others": self.others,
            "steps": self.history,
        }

    def outputs(self) -> dict[str, Any] | None:
        return None

    def _share(self) -> int:
        return self.spec.steps[self.step]

    @staticmethod
    def _said(split: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}%" for k, v in split.items())

    @staticmethod
    def _figures(figures: dict[str, Any]) -> str:
        p99 = figures["latencyP99Ms"]
        latency = f", p99 {p99:.1f} ms" if p99 is not None else ""
        return f"{figures['requests']} requests, {figures['errorRate']:.1%} failed{latency}"


def _sample(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures.get(k) for k in ("requests", "errorRate", "latencyP99Ms")}


def restore_abandoned(job: JobRecord, database: Database, settings: Settings | None = None) -> str | None:
    """A rollout whose host died: the split before it comes back, unless
    the model's split is no longer the one its last step set (someone
    changed it since, or the rollout finished): nobody watches the canary
    any more. The model's notifications hear of the restored split (with
    ``settings``, the host's channels too), as of any other."""
    progress = job.progress or {}
    before = progress.get("before")
    if not before or progress.get("share") is None:
        return None  # it died before its first step: nothing was changed
    spec = RolloutSpec.from_api(job.job_input or {})
    # Quotas are not read by a traffic change.
    registry = ModelRegistry(database, 0, 0, ModelNotifier(Channels.of(settings) if settings else Channels()))
    model = registry.get_model(job.project, spec.model)
    if dict(model.traffic_split) != step_split(before, spec.canary, int(progress["share"])):
        return "the model's split changed since its last step, and is left as it is"
    restored = {} if len(before) == 1 else dict(before)
    reason = f"rollout {job.job_id} rolled back: its job host died"
    registry.set_traffic(job.project, spec.model, f"rollout job {job.job_id}", restored, reason=reason)
    return "the split before the rollout was restored"
