"""The served counts' buckets: a quantile read back from them is within a
fifth of the true one, tallies merge, and figures say the error rate."""

from __future__ import annotations

import random

import numpy as np
import pytest

from mlnb.prediction.served import Tally, bucket_of, edge


def tally_of(times_ms: list[float], failed: int = 0) -> Tally:
    tally = Tally(requests=len(times_ms), errors=failed)
    for ms in times_ms:
        tally.latency[bucket_of(ms)] += 1
    return tally


def test_each_time_falls_in_its_bucket() -> None:
    for ms in (0.01, 0.05, 0.051, 0.3, 1.0, 7.5, 49.9, 50.0, 1234.0, 9e9):
        index = bucket_of(ms)
        assert edge(index) <= ms or index == 0
        assert ms < edge(index + 1) or index == bucket_of(9e9)
    assert [bucket_of(ms) for ms in (0.1, 0.2, 0.4)] == [4, 8, 12]  # four a doubling


@pytest.mark.parametrize("seed", range(5))
def test_a_p99_read_back_is_within_a_fifth_of_the_true_one(seed: int) -> None:
    rng = random.Random(seed)
    # Mostly fast answers, a slow tail: the shape a p99 bound watches.
    times = [rng.lognormvariate(0.0, 0.4) for _ in range(5000)] + [
        rng.uniform(20.0, 80.0) for _ in range(100)
    ]
    true = float(np.quantile(times, 0.99))
    read = tally_of(times).quantile_ms(0.99)
    assert read is not None and abs(read - true) / true < 0.2, (read, true)


def test_tallies_merge_and_say_their_figures() -> None:
    one, two = tally_of([1.0] * 90, failed=0), tally_of([100.0] * 10, failed=10)
    both = Tally.summed([one, two])
    assert (one.requests, one.errors) == (90, 0)  # merging leaves its parts as they were
    figures = both.figures()
    assert (figures["requests"], figures["errors"], figures["errorRate"]) == (100, 10, 0.1)
    assert figures["latencyP99Ms"] is not None and 84.0 < figures["latencyP99Ms"] < 120.0
    assert Tally().figures() == {"requests": 0, "errors": 0, "errorRate": 0.0, "latencyP99Ms": None}
