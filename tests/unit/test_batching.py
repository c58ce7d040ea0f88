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
