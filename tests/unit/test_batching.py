"""Adaptive batching: concurrent requests share model calls; a lone one
waits for nothing; an error reaches only the request that caused it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from mlnb.errors import InvalidArgument
from mlnb.server.batching import Batcher


class CountingModel:
    """Doubles numbers; refuses negative ones; counts its calls."""

    def __init__(self, delay: float = 0.01) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, instances: list[Any]) -> list[Any]:
        with self.lock:
            self.calls.append(len(instances))
        time.sleep(self.delay)
        if any(i < 0 for i in instances):
            raise InvalidArgument("negative instance")
        return [2 * i for i in instances]


def test_concurrent_requests_share_model_calls() -> None:
    model = CountingModel()
    batcher = Batcher(max_instances=256)

    async def run() -> list[Any]:
        return await asyncio.gather(*(batcher.predict("v1", [n, n + 1], model) for n in range(0, 40, 2)))

    results = asyncio.run(run())
    assert results == [[2 * n, 2 * n + 2] for n in range(0, 40, 2)]
    assert sum(model.calls) == 40
    assert len(model.calls) < 20  # fewer calls than requests
    assert batcher.requests == 20


def test_a_lone_request_goes_at_once_and_batches_respect_the_cap() -> None:
    model = CountingModel(delay=0.0)
    batcher = Batcher(max_instances=3)

    async def run() -> list[Any]:
        first = await batcher.predict("v1", [1], model)
        rest = await asyncio.gather(*(batcher.predict("v1", [n], model) for n in range(10)))
        return [first, *rest]

    results = asyncio.run(run())
    assert results[0] == [2] and model.calls[0] == 1
    assert max(model.calls) <= 3 and results[1:] == [[2 * n] for n in range(10)]


def test_an_error_reaches_only_its_request() -> None:
    model = CountingModel()
    batcher = Batcher(max_instances=256)

    async def run() -> list[Any]:
        calls = [batcher.predict("v1", [n if n != 5 else -1], model) for n in range(10)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(run())
    assert isinstance(results[5], InvalidArgument)
    assert [r for i, r in enumerate(results) if i != 5] == [[2 * n] for n in range(10) if n != 5]


def test_keys_keep_versions_apart() -> None:
    model = CountingModel()
    batcher = Batcher(max_instances=256)

    async def run() -> tuple[Any, Any]:
        return await asyncio.gather(batcher.predict("v1", [1], model), batcher.predict("v2", [2], model))

    assert list(asyncio.run(run())) == [[2], [4]]
    assert model.calls == [1, 1]


@pytest.mark.parametrize("size", [0, -5])
def test_the_cap_is_at_least_one(size: int) -> None:
    assert Batcher(max_instances=size).max_instances == 1


def test_a_lane_takes_its_own_cap() -> None:
    model = CountingModel()
    batcher = Batcher(max_instances=256)

    async def run() -> list[Any]:
        return await asyncio.gather(*(batcher.predict("v1", [n], model, max_instances=2) for n in range(9)))

    assert asyncio.run(run()) == [[2 * n] for n in range(9)]
    assert max(model.calls) <= 2 and sum(model.calls) == 9


def test_a_max_wait_gathers_requests_that_come_one_after_another() -> None:
    # Without a wait, requests 20 ms apart to an idle, fast model go one by
    # one; with a second to wait they share one model call.
    async def staggered(batcher: Batcher, model: CountingModel, wait: float) -> list[Any]:
        async def one(n: int) -> Any:
            await asyncio.sleep(0.02 * n)
            return await batcher.predict("v1", [n], model, max_wait_s=wait)

        return await asyncio.gather(*(one(n) for n in range(5)))

    eager = CountingModel(delay=0.0)
    assert asyncio.run(staggered(Batcher(256), eager, 0.0)) == [[2 * n] for n in range(5)]
    assert len(eager.calls) > 1
    patient = CountingModel(delay=0.0)
    assert asyncio.run(staggered(Batcher(256), patient, 1.0)) == [[2 * n] for n in range(5)]
    assert patient.calls == [5]


def test_a_full_batch_does_not_wait_out_the_max_wait() -> None:
    model = CountingModel(delay=0.0)
    batcher = Batcher(max_instances=256)

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(batcher.predict("v1", [n], model, max_instances=4, max_wait_s=30) for n in range(4))
        )
        return time.perf_counter() - started

    assert asyncio.run(run()) < 10  # a full batch goes at once, not after 30 s
    assert model.calls == [4]


def test_checked_instances_batch_with_their_keys_and_keyed_and_unkeyed_go_alone() -> None:
    from mlnb.prediction import decode_instances
    from mlnb.prediction.predict import predict_decoded

    class Doubler:
        def __init__(self) -> None:
            self.calls: list[int] = []

        def predict(self, instances: list[Any], **kwargs: Any) -> list[Any]:
            self.calls.append(len(instances))
            time.sleep(0.01)
            return [2 * i[0] for i in instances]

    model = Doubler()
    batcher = Batcher(max_instances=256)
    requests = [
        decode_instances([{"key": "a", "values": [1]}, {"key": "b", "values": [2]}]),
        decode_instances([{"key": "c", "values": [3]}]),
        decode_instances([[4]]),
        decode_instances([{"key": "d", "values": [5]}]),
    ]

    async def run() -> list[Any]:
        call = lambda batch: predict_decoded(model, batch)  # noqa: E731
        first = asyncio.create_task(batcher.predict("v1", decode_instances([[0]]), call))
        await asyncio.sleep(0)  # the version is busy: the rest wait and go together
        return [await first, *await asyncio.gather(*(batcher.predict("v1", r, call) for r in requests))]

    assert asyncio.run(run()) == [
        [0],
        [{"key": "a", "prediction": 2}, {"key": "b", "prediction": 4}],
        [{"key": "c", "prediction": 6}],
        [8],
        [{"key": "d", "prediction": 10}],
    ]
    # The keyed and the unkeyed could not share a call: each went alone.
    assert model.calls[0] == 1 and sorted(model.calls[1:]) == [1, 1, 1, 2]

    async def keyed_only() -> list[Any]:
        call = lambda batch: predict_decoded(model, batch)  # noqa: E731
        first = asyncio.create_task(
            batcher.predict("v1", decode_instances([{"key": "z", "values": [0]}]), call)
        )
        await asyncio.sleep(0)
        keyed = [requests[0], requests[1], requests[3]]
        return [await first, *await asyncio.gather(*(batcher.predict("v1", r, call) for r in keyed))]

    model.calls.clear()
    assert asyncio.run(keyed_only()) == [
        [{"key": "z", "prediction": 0}],
        [{"key": "a", "prediction": 2}, {"key": "b", "prediction": 4}],
        [{"key": "c", "prediction": 6}],
        [{"key": "d", "prediction": 10}],
    ]
    assert max(model.calls) >= 4  # the keyed requests shared one model call, each kept its keys
    joined = requests[0] + requests[1]
    assert (joined.keys, joined.as_sent()) == (
        ["a", "b", "c"],
        [{"key": "a", "values": [1]}, {"key": "b", "values": [2]}, {"key": "c", "values": [3]}],
    )
    with pytest.raises(InvalidArgument, match="Instances with keys and instances without cannot share"):
        requests[0] + requests[2]


def test_calls_proven_fast_run_in_the_loop_and_slow_ones_in_a_thread() -> None:
    fast = CountingModel(delay=0.0)
    slow = CountingModel(delay=0.02)
    threads: list[str] = []

    def watched(model: CountingModel) -> Any:
        def call(instances: list[Any]) -> list[Any]:
            threads.append(threading.current_thread().name)
            return model(instances)

        return call

    # Bounds far from the calls' times, so that a busy machine's pauses
    # cannot move a call across: a second for the fast model's calls (a
    # few µs), 5 ms for the slow one's (20 ms of sleep at the least).
    lenient = Batcher(max_instances=256, inline_s=1.0)
    strict = Batcher(max_instances=256, inline_s=0.005)
    loop_thread = threading.current_thread().name

    async def run(batcher: Batcher, key: str, call: Any, ready: Any = lambda: True) -> None:
        for n in range(6):
            assert await batcher.predict(key, [n], call, ready=ready) == [2 * n]

    asyncio.run(run(lenient, "fast", watched(fast)))
    # Three calls timed in a thread, then the loop's own thread.
    assert [name == loop_thread for name in threads] == [False, False, False, True, True, True]
    assert lenient.inline_calls == 3
    threads.clear()
    asyncio.run(run(strict, "slow", watched(slow)))
    assert loop_thread not in threads and strict.inline_calls == 0  # 20 ms a call: never inline
    threads.clear()
    asyncio.run(run(lenient, "fast", watched(fast), ready=lambda: False))
    assert loop_thread not in threads  # a version that would read or load: a thread
    threads.clear()
    asyncio.run(run(lenient, "fast-bare", watched(fast), ready=None))
    assert loop_thread not in threads  # no say on I/O: a thread


def test_a_fast_version_whose_calls_time_slow_in_a_thread_is_tried_in_the_loop_again() -> None:
    """Under load a worker thread waits for the GIL while the loop reads
    other requests, so a fast model's calls time slow there, and a version
    moved to a thread once stayed there. Here a call off the loop's thread
    sleeps 150 ms (those waits), one in the loop does not: both far from
    the 100 ms bound, so that a busy machine's pauses cannot cross it."""
    loop_thread = threading.current_thread()
    spike = [False]
    calls: list[bool] = []

    def model(instances: list[Any]) -> list[Any]:
        in_loop = threading.current_thread() is loop_thread
        calls.append(in_loop)
        if spike[0] and in_loop:
            spike[0] = False
            time.sleep(1.0)  # one call in the loop slowed by something else on the machine
        elif len(calls) > 3 and not in_loop:
            time.sleep(0.15)
        return [2 * i for i in instances]

    batcher = Batcher(max_instances=256, inline_s=0.1)

    async def run() -> int:
        for n in range(5):  # proven fast in a thread, then in the loop
            await batcher.predict("v1", [n], model, ready=lambda: True)
        assert calls == [False, False, False, True, True]
        spike[0] = True
        await batcher.predict("v1", [0], model, ready=lambda: True)  # 1 s in the loop: over the bound
        in_threads = 0
        for n in range(100):  # each 150 ms in a thread: back in the loop only by a probe, a second on
            await batcher.predict("v1", [n], model, ready=lambda: True)
            if calls[-1]:
                break
            in_threads += 1
        for n in range(5):  # and it stays there
            await batcher.predict("v1", [n], model, ready=lambda: True)
        return in_threads

    in_threads = asyncio.run(run())
    assert in_threads > 0 and calls[-6:] == [True] * 6


def test_batches_called_in_the_loop_share_calls_and_an_error_stays_with_its_request() -> None:
    model = CountingModel(delay=0.0)
    batcher = Batcher(max_instances=4, inline_s=1.0)  # far over a call: a pause cannot move one

    async def run() -> list[Any]:
        for n in range(3):  # proven fast, one request at a time (in a thread)
            await batcher.predict("v1", [n], model, ready=lambda: True)
        model.calls.clear()
        calls = [batcher.predict("v1", [n if n != 5 else -1], model, ready=lambda: True) for n in range(10)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(run())
    assert isinstance(results[5], InvalidArgument)
    assert [r for i, r in enumerate(results) if i != 5] == [[2 * n] for n in range(10) if n != 5]
    # Batches of at most 4, in the loop; the one holding the bad request
    # fails and is called again request by request.
    assert model.calls == [4, 4, 1, 1, 1, 1, 2] and batcher.inline_calls == 7


def test_a_probe_that_times_slow_waits_twice_as_long_for_the_next() -> None:
    """The probes' schedule, on a clock of its own: a version never fast in
    the loop is never tried there; one that was is tried a second after it
    went over the bound, then after 2, 4... seconds while the tries time
    slow, and a try that times fast sets its cost anew."""
    from mlnb.server.batching import _Cost

    never = _Cost(seconds=0.5, instances=1.0, calls=5)
    assert not never.probe_due(100.0) and not never.probe_due(200.0)

    cost = _Cost(seconds=0.001, instances=1.0, calls=5)
    cost.note_in_loop(0.001, 1, bound=0.01)
    cost.note_in_loop(0.5, 1, bound=0.01)  # now over the bound
    assert cost.expected(1) > 0.01
    assert not cost.probe_due(10.0)  # the first call over it starts the wait
    assert not cost.probe_due(10.9)
    assert cost.probe_due(11.0)
    cost.note_in_loop(0.5, 1, bound=0.01)  # the try timed slow
    assert not cost.probe_due(11.1) and not cost.probe_due(13.0)
    assert cost.probe_due(13.1)  # two seconds on
    cost.note_in_loop(0.002, 4, bound=0.01)  # fast: its own figures, the gap back to a second
    assert cost.expected(4) == 0.002 and cost.expected(8) == 0.004
    assert cost.probe_gap == 1.0


def test_requests_that_come_alone_are_called_at_once_until_several_come_together() -> None:
    """One client, one request at a time: after a few batches of one, a
    request that finds its version idle is called before the loop turns
    (before a callback scheduled ahead of it), but for every sixteenth;
    requests that come together then batch again."""
    model = CountingModel(delay=0.0)
    batcher = Batcher(max_instances=256, inline_s=1.0)  # far over a call: a pause cannot move one
    order: list[str] = []

    def call(instances: list[Any]) -> list[Any]:
        order.append("model")
        return model(instances)

    async def one(n: int) -> bool:
        """Whether the request's model call came before the next turn of the loop."""
        order.clear()
        asyncio.get_running_loop().call_soon(order.append, "turn")
        assert await batcher.predict("v1", [n], call, ready=lambda: True) == [2 * n]
        return order[0] == "model"

    async def run() -> tuple[list[bool], list[int]]:
        at_once = [await one(n) for n in range(60)]
        model.calls.clear()
        for _ in range(3):  # sixteen together, three times: a probe among them gathers them
            results = await asyncio.gather(
                *(batcher.predict("v1", [n], call, ready=lambda: True) for n in range(16))
            )
            assert results == [[2 * n] for n in range(16)]
        return at_once, list(model.calls)

    at_once, calls_together = asyncio.run(run())
    # Three calls to prove it fast (in a thread), eight batches of one in
    # the loop, then at once but for every sixteenth request.
    assert not any(at_once[:11])
    assert at_once[11:] == [(n + 1) % 16 != 0 for n in range(len(at_once) - 11)]
    # Together, at most one round's requests are called one by one: then they batch.
    assert len(calls_together) < 16 + 2 and calls_together[-1] == 16
