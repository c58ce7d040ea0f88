"""Adaptive batching of concurrent predict requests to one version.

A request that finds its version idle is predicted at once, so a lone client
waits for nothing. Requests that arrive while a prediction for the same
version runs wait for it to end and then go together, up to the version's
max batch size: the busier the version, the larger the batches, and one
model call serves many requests. A version may also ask that each batch wait
up to a few milliseconds for more requests (``maxWaitMs``), trading latency
for fewer, larger model calls. If a combined call fails, each request is
predicted on its own, so that an error reaches only the request that caused
it.

A model call that has proven fast (its recent calls, scaled to the batch's
size, under ``inline_s``: a small scikit-learn or XGBoost model) runs in
the event loop itself: the hop to a worker thread and back costs more
than such a call. Slower calls, and the first calls of a version (loading
it), run in a worker thread, so that the loop never waits long.

A call timed in a worker thread waits for the GIL whenever the loop holds
it (reading other requests, up to the interpreter's switch interval at a
time), so under load a fast version's calls there time slow, which kept
it in a thread for good: on a busy 2-core machine, 0.55 of the bare
endpoint's throughput against 0.8 in the loop. A version that has run
fast in the loop and was moved to a thread is tried in the loop again
(a probe) a second later, then after twice as long each time the try
times slow, up to a minute: a model that did get slow blocks the loop
for one call now and then, not for every call.

The turn of the loop a request waits for its batch to gather is a waste
when nobody comes: one client sending one request at a time. A version
whose last batches in the loop each held one request, with none waiting
behind it, is called right away for a request that finds it idle (about
20 µs a request less); every sixteenth such request waits for the turn
anyway, and a batch of several ends it.

A request's instances are anything with a length that ``+`` joins: lists,
or the checked instances of ``Engine.check_instances`` (a join that cannot
be made, as of keyed and unkeyed instances, fails like a combined call).
"""

from __future__ import annotations

import asyncio
import functools
import operator
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from mlnb.errors import MlnbError

# A request's instances (see above) in, one prediction per instance out.
Predict = Callable[[Any], list[Any]]
# Calls of a version timed in a worker thread before any runs in the loop.
_PROVEN_AFTER = 3
_SMOOTHING = 0.2  # the weight of the newest call in a version's running cost
_MAX_COSTS = 1024
# Seconds before a version moved to a thread is tried in the loop again,
# doubled after each try that timed slow, up to the last.
_FIRST_PROBE_S = 1.0
_LAST_PROBE_S = 64.0
# Batches of one request in the loop, none waiting behind, before a
# request that finds its version idle is called at once; and how often
# such a request waits for the turn anyway, to see whether others come.
_ALONE_AFTER = 8
_ALONE_PROBE_EVERY = 16


@dataclass
class _Cost:
    """A version's recent model calls: seconds a call, instances a call."""

    seconds: float
    instances: float
    calls: int = 1
    fast_in_loop: bool = False  # a call in the loop has timed under the bound
    probe_at: float = 0.0  # when the next try in the loop is due (perf_counter); 0: none due
    probe_gap: float = _FIRST_PROBE_S
    probing: bool = False
    alone: int = 0  # batches of one request in a row, in the loop, none waiting behind it
    at_once: int = 0  # requests called at once since the last that waited for a turn

    def note_batch(self, requests: int, waiting: bool) -> None:
        """A batch called in the loop: of ``requests``, others ``waiting`` behind it or not."""
        self.alone = self.alone + 1 if requests == 1 and not waiting else 0

    def goes_at_once(self) -> bool:
        """Whether a request that finds the version idle is called at
        once: its last batches each held one request (and not every
        sixteenth such request, which waits a turn to see who comes)."""
        if self.alone < _ALONE_AFTER:
            return False
        self.at_once += 1
        if self.at_once >= _ALONE_PROBE_EVERY:
            self.at_once = 0
            return False
        return True

    def note(self, seconds: float, instances: int) -> None:
        self.seconds += _SMOOTHING * (seconds - self.seconds)
        self.instances += _SMOOTHING * (instances - self.instances)
        self.calls += 1

    def note_in_loop(self, seconds: float, instances: int, bound: float) -> None:
        """A call in the loop: what it cost there, where the GIL waits of a
        thread do not blur it. A probe that timed fast sets the cost anew."""
        fast = seconds < bound
        if self.probing:
            self.probing = False
            if fast:
                self.seconds, self.instances, self.calls = seconds, float(instances), self.calls + 1
                self.probe_gap = _FIRST_PROBE_S
                return
            self.probe_gap = min(2 * self.probe_gap, _LAST_PROBE_S)
        self.fast_in_loop = self.fast_in_loop or fast
        self.note(seconds, instances)

    def probe_due(self, now: float) -> bool:
        """Whether a version that has run fast in the loop, now timed over
        the bound, is to be tried there again now (once a gap: the first
        call over the bound starts it)."""
        if not self.fast_in_loop:
            return False
        if not self.probe_at:
            self.probe_at = now + self.probe_gap
            return False
        if now < self.probe_at:
            return False
        self.probe_at, self.probing = 0.0, True
        return True

    def expected(self, instances: int) -> float:
        """A call's seconds for ``instances``, scaled up (never down) from the recent ones."""
        return self.seconds * max(1.0, instances / max(self.instances, 1.0))


@dataclass
class _Lane:
    """The requests waiting for one version, whether it is busy, and its
    batch settings (fixed for the lane's life: a lane ends when it drains)."""

    max_instances: int
    max_wait_s: float
    ready: Callable[[], bool] | None = None
    waiting: list[tuple[Any, asyncio.Future[list[Any]]]] = field(default_factory=list)
    busy: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def pending(self) -> int:
        return sum(len(instances) for instances, _ in self.waiting)


class Batcher:
    """Groups the instances of concurrent requests that share a key."""

    def __init__(self, max_instances: int, inline_s: float = 0.0) -> None:
        self.max_instances = max(1, max_instances)
        self.inline_s = max(0.0, inline_s)
        self._costs: dict[Hashable, _Cost] = {}
        self.inline_calls = 0
        self._lanes: dict[Hashable, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # held, so that none is collected while it runs
        self.batches = 0
        self.requests = 0

    async def predict(
        self,
        key: Hashable,
        instances: Any,
        call: Predict,
        max_instances: int | None = None,
        max_wait_s: float = 0.0,
        ready: Callable[[], bool] | None = None,
    ) -> list[Any]:
        """Predict ``instances`` with ``call``, together with whatever else
        waits under ``key``. ``max_instances`` (the Batcher's own when unset)
        and ``max_wait_s`` apply when no lane for ``key`` is open yet.
        ``ready`` says whether ``call`` would do no I/O now (nothing to read
        or load): without it, or when it says no, calls run in a thread."""
        # Called right here only when the version's requests have come
        # alone lately: else the lane is drained a turn of the loop later,
        # after the requests that arrived with this one joined it (called
        # here, each would make a model call of its own: 0.6 of the bare
        # throughput at 16 concurrent 100-instance requests, against 0.75
        # to 0.85).
        lane = self._lanes.get(key)
        if lane is None and max_wait_s <= 0:
            cost = self._costs.get(key)
            if cost is not None and cost.goes_at_once() and self._inline(cost, len(instances), ready):
                # Alone lately: no turn to wait for others (see the module's notes).
                self.batches += 1
                self.requests += 1
                return self._inline_call(cost, call, instances)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if lane is None:
            lane = _Lane(max(1, max_instances or self.max_instances), max(0.0, max_wait_s), ready)
            self._lanes[key] = lane
        lane.waiting.append((instances, future))
        lane.arrived.set()
        if not lane.busy:
            lane.busy = True
            loop.call_soon(self._drain_soon, key, lane, call)
        return await future

    def _drain_soon(self, key: Hashable, lane: _Lane, call: Predict) -> None:
        """Drain the lane in this callback while its batches may be called
        in the loop (proven fast, nothing to load, no max wait): no task,
        no coroutines. Whatever is left goes to a task (``_drain``)."""
        try:
            while lane.waiting and lane.max_wait_s <= 0:
                cost = self._costs.get(key)
                if cost is None or not self._inline(cost, self._next_batch(lane)[1], lane.ready):
                    break
                batch = self._take(lane)
                self._run_here(lane, batch, call, cost)
                cost.note_batch(len(batch), bool(lane.waiting))
        except BaseException:
            lane.busy = False
            raise
        if lane.waiting:
            task = asyncio.create_task(self._drain(key, lane, call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            lane.busy = False
            self._lanes.pop(key, None)

    @staticmethod
    def _next_batch(lane: _Lane) -> tuple[int, int]:
        """The requests and the instances of the next batch: the first
        request, and those after it while they fit the lane's cap."""
        requests, count = 1, len(lane.waiting[0][0])
        for instances, _ in lane.waiting[1:]:
            if count + len(instances) > lane.max_instances:
                break
            requests, count = requests + 1, count + len(instances)
        return requests, count

    def _run_here(
        self, lane: _Lane, batch: list[tuple[Any, asyncio.Future[list[Any]]]], call: Predict, cost: _Cost
    ) -> None:
        """``_run`` for a batch called in the loop, without awaiting."""
        self.batches += 1
        self.requests += len(batch)
        if len(batch) > 1:
            try:
                predictions = self._inline_call(cost, call, _combined([instances for instances, _ in batch]))
            except MlnbError:
                pass  # find out whose instances the model rejected, below
            else:
                _share_out(batch, predictions)
                return
        for instances, future in batch:
            try:
                result = self._inline_call(cost, call, instances)
            except Exception as e:  # handed to the request that owns it, whatever it is
                if not future.done():
                    future.set_exception(e)
                continue
            if not future.done():
                future.set_result(result)

    async def _drain(self, key: Hashable, lane: _Lane, call: Predict) -> None:
        try:
            while lane.waiting:
                await self._gather(lane)
                batch = self._take(lane)
                await self._run(key, lane, batch, call)
        finally:
            lane.busy = False
            if not lane.waiting:
                self._lanes.pop(key, None)

    @staticmethod
    async def _gather(lane: _Lane) -> None:
        """Wait up to the lane's max wait for a full batch."""
        if lane.max_wait_s <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lane.max_wait_s
        while lane.pending() < lane.max_instances:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            lane.arrived.clear()
            try:
                await asyncio.wait_for(lane.arrived.wait(), remaining)
            except TimeoutError:
                return

    @classmethod
    def _take(cls, lane: _Lane) -> list[tuple[Any, asyncio.Future[list[Any]]]]:
        requests, _ = cls._next_batch(lane)
        batch = lane.waiting[:requests]
        del lane.waiting[:requests]
        return batch

    async def _run(
        self, key: Hashable, lane: _Lane, batch: list[tuple[Any, asyncio.Future[list[Any]]]], call: Predict
    ) -> None:
        self.batches += 1
        self.requests += len(batch)
        if len(batch) == 1:
            await self._settle(key, lane, batch[0], call)
            return
        cost = self._costs.get(key)
        if cost is not None:
            cost.note_batch(len(batch), bool(lane.waiting))  # several came together
        try:
            combined = _combined([instances for instances, _ in batch])
            predictions = await self._call(key, lane, call, combined)
        except MlnbError:
            for item in batch:  # find out whose instances the model rejected
                await self._settle(key, lane, item, call)
            return
        _share_out(batch, predictions)

    async def _settle(
        self, key: Hashable, lane: _Lane, item: tuple[Any, asyncio.Future[list[Any]]], call: Predict
    ) -> None:
        instances, future = item
        try:
            result = await self._call(key, lane, call, instances)
        except Exception as e:  # handed to the request that owns it, whatever it is
            if not future.done():
                future.set_exception(e)
            return
        if not future.done():
            future.set_result(result)

    def _inline(self, cost: _Cost, count: int, ready: Callable[[], bool] | None) -> bool:
        """Whether a call of ``count`` instances runs in the loop: it needs
        no I/O now, and its version's calls have proven fast (or a probe
        of one that ran fast in the loop before is due)."""
        if cost.calls < _PROVEN_AFTER or self.inline_s <= 0 or ready is None or not ready():
            return False
        if cost.expected(count) < self.inline_s:
            cost.probe_at = 0.0
            return True
        return cost.probe_due(time.perf_counter())

    def _inline_call(self, cost: _Cost, call: Predict, instances: Any) -> list[Any]:
        self.inline_calls += 1
        started = time.perf_counter()
        try:
            return call(instances)
        finally:
            cost.note_in_loop(time.perf_counter() - started, len(instances), self.inline_s)

    async def _call(self, key: Hashable, lane: _Lane, call: Predict, instances: Any) -> list[Any]:
        """``call(instances)``: here when the version's calls have proven
        fast and it needs no I/O now, else in a worker thread (timed, to
        learn what it costs)."""
        cost = self._costs.get(key)
        count = len(instances)
        if cost is not None and self._inline(cost, count, lane.ready):
            return self._inline_call(cost, call, instances)

        def timed() -> list[Any]:
            started = time.perf_counter()
            try:
                return call(instances)
            finally:
                spent = time.perf_counter() - started
                known = self._costs.get(key)
                if known is None:
                    if len(self._costs) >= _MAX_COSTS:
                        self._costs.clear()  # keys carry request parameters: bounded
                    self._costs[key] = _Cost(spent, float(count))
                else:
                    known.note(spent, count)

        return await run_in_threadpool(timed)


def _share_out(batch: list[tuple[Any, asyncio.Future[list[Any]]]], predictions: list[Any]) -> None:
    """Hand each request of a batch its slice of the batch's predictions."""
    start = 0
    for instances, future in batch:
        if not future.done():
            future.set_result(predictions[start : start + len(instances)])
        start += len(instances)


def _combined(parts: list[Any]) -> Any:
    """The requests' instances as one batch: at once when their type can
    join many (``DecodedInstances.joined``: one copy), else added in turn."""
    joined = getattr(type(parts[0]), "joined", None)
    return joined(parts) if joined is not None else functools.reduce(operator.add, parts)
