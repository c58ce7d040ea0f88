"""How versions are served: which stay loaded (scaling per worker, a memory
bound), a new default loaded before it takes traffic, batch and scaling
settings checked, and version creation that can be cancelled."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import model_factory

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, InvalidArgument

pytestmark = pytest.mark.integration

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def loaded_names(engine: Engine) -> set[str]:
    return {str(key[0]).rsplit("/", 1)[-1] for key in engine._serving._predictors.loaded_keys()}  # type: ignore[index]


def test_scaling_decides_which_workers_keep_a_version_loaded(
    settings: Settings, sklearn_model: tuple[Path, Any]
) -> None:
    owner = Engine(settings)
    owner.create_model("m")
    owner.create_version("m", "v1", sklearn_model[0])
    owner.create_version("m", "two", sklearn_model[0], auto_scaling={"minNodes": 2})
    owner.create_version("m", "one", sklearn_model[0], manual_scaling={"nodes": 1})
    owner.create_version("m", "v3", sklearn_model[0])
    workers = [Engine(settings.replace(predictor_cache_size=1)) for _ in range(3)]
    kept = [sorted(w.keep_loaded(i)) for i, w in enumerate(workers)]
    assert kept == [
        ["projects/default/models/m/versions/one", "projects/default/models/m/versions/two"],
        ["projects/default/models/m/versions/two"],
        [],
    ]
    # Pinned versions outlive the cache's size of 1; the lazily loaded v1 is the one dropped.
    first = workers[0]
    first.predict("m", SAMPLES)
    assert loaded_names(first) == {"one", "two", "v1"}
    first.predict("m", SAMPLES, version="v3")
    assert loaded_names(first) == {"one", "two", "v3"}
    # Unpinned once the scaling no longer asks for it.
    owner.delete_version("m", "one")
    assert first.keep_loaded(0) == ["projects/default/models/m/versions/two"]
    first.predict("m", SAMPLES)
    assert loaded_names(first) == {"two", "v1"}
    for engine in [owner, *workers]:
        engine.close()


def test_the_memory_bound_unloads_the_least_recently_used(
    settings: Settings, sklearn_model: tuple[Path, Any]
) -> None:
    owner = Engine(settings)
    owner.create_model("m")
    for name in ("a", "b", "c"):
        owner.create_version("m", name, sklearn_model[0])
    size = owner._serving._deployer.stored_bytes(owner.get_version("m", "a"))
    assert size > 0
    # A bound of 1 MB holds as many of these models as fit in it, never fewer than one.
    per_mb = max(1, (1024 * 1024) // size)
    server = Engine(settings.replace(predictor_cache_mb=1))
    for name in ("a", "b", "c"):
        server.predict("m", SAMPLES, version=name)
    assert len(loaded_names(server)) == min(3, per_mb)
    assert "c" in loaded_names(server)  # the one just used always stays
    assert server._serving._predictors.loaded_bytes() <= max(1024 * 1024, size)
    server.close()
    owner.close()


def test_a_new_default_is_loaded_before_it_takes_traffic(
    settings: Settings, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    slow_dir, package = model_factory.custom_routine(tmp_path / "slow", factor=1.0, load_seconds=1.0)
    owner = Engine(settings)
    owner.create_model("m")
    owner.create_version("m", "v1", sklearn_model[0])
    owner.create_version("m", "v2", slow_dir, prediction_class="scaled_sum.ScaledSum", package_uris=[package])
    server = Engine(settings.replace(resolve_ttl_s=0.2))
    expected_v1 = sklearn_model[1].predict(np.asarray(SAMPLES)).tolist()
    assert server.predict("m", SAMPLES) == expected_v1
    owner.set_default_version("m", "v2")
    # Until v2 is loaded in the background, v1 answers: no request waits for the load.
    answers = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers.append(server.predict("m", SAMPLES))
        if answers[-1] != expected_v1:
            break
        time.sleep(0.05)
    assert answers[-1] == [sum(SAMPLES[0]), sum(SAMPLES[1])]
    assert answers.count(expected_v1) >= 2  # served by v1 while v2 loaded
    server.close()
    owner.close()


def test_a_deleted_version_stops_answering_within_the_staleness_bound_however_slow_the_reread(
    settings: Settings, sklearn_model: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from mlnb.errors import NotFound

    owner = Engine(settings)
    owner.create_model("m")
    owner.create_version("m", "v1", sklearn_model[0])
    owner.create_version("m", "v2", sklearn_model[0])
    ttl = 0.1
    server = Engine(settings.replace(resolve_ttl_s=ttl))
    assert len(server.predict("m", SAMPLES, version="v2")) == 2
    # The background re-read hangs (an overloaded database); the request's own read does not.
    registry = server._serving._registry
    real_get_version, stuck = registry.get_version, threading.Event()

    def get_version(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("resolve-"):
            stuck.wait(60)
        return real_get_version(*args, **kwargs)

    monkeypatch.setattr(registry, "get_version", get_version)
    confirmed = time.monotonic()
    owner.delete_version("m", "v2")
    assert len(server.predict("m", SAMPLES, version="v2")) == 2  # within the TTL: the version known
    # Past the bound (3 TTLs after the read that confirmed it), the request reads itself.
    time.sleep(max(0.0, confirmed + 3 * ttl + 0.05 - time.monotonic()))
    with pytest.raises(NotFound, match="v2"):
        server.predict("m", SAMPLES, version="v2")
    stuck.set()
    server.close()
    owner.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"manual_scaling": {"nodes": 1}, "auto_scaling": {"minNodes": 1}}, "not both"),
        ({"auto_scaling": {"minNodes": -1}}, "autoScaling.minNodes must be 0 or more"),
        ({"manual_scaling": {"nodes": "x"}}, "manualScaling.nodes must be a whole number"),
        ({"manual_scaling": {"node": 1}}, "manualScaling has unknown fields: node"),
        ({"batching": {"maxBatchSize": 0}}, "batching.maxBatchSize must be from 1 to 100000"),
        ({"batching": {"maxWaitMs": 5000}}, "batching.maxWaitMs must be a number from 0 to 1000"),
        ({"batching": {"wait": 1}}, "batching has unknown fields: wait"),
    ],
)
def test_bad_serving_settings_are_refused(
    engine: Engine, sklearn_model: tuple[Path, Any], fields: dict[str, Any], message: str
) -> None:
    engine.create_model("m")
    with pytest.raises(InvalidArgument, match=message):
        engine.create_version("m", "v1", sklearn_model[0], **fields)
    assert engine.list_versions("m") == []


def test_batching_settings_are_kept(engine: Engine, sklearn_model: tuple[Path, Any]) -> None:
    engine.create_model("m")
    record = engine.create_version("m", "v1", sklearn_model[0], batching={"maxBatchSize": 8, "maxWaitMs": 2})
    assert record.to_api()["batching"] == {"maxBatchSize": 8, "maxWaitMs": 2}
    assert engine.get_version("m", "v1").batch_settings(256) == (8, 0.002)


def test_a_version_creation_can_be_cancelled(engine: Engine, tmp_path: Path) -> None:
    slow_dir, package = model_factory.custom_routine(tmp_path / "slow", load_seconds=1.5)
    engine.create_model("m")
    operation = engine.start_version_creation(
        "m", "v1", slow_dir, prediction_class="scaled_sum.ScaledSum", package_uris=[package]
    )
    asked = engine.cancel_operation(operation.operation_id)
    assert asked.to_api()["metadata"]["isCancellationRequested"] is True
    deadline = time.monotonic() + 60
    while not (done := engine.get_operation(operation.operation_id)).done:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert done.error == {"code": 1, "message": "Version creation was cancelled"}
    version = engine.get_version("m", "v1")
    assert (version.state, version.error_message) == ("FAILED", "Version creation was cancelled")
    assert engine.get_model("m").default_version is None
    with pytest.raises(FailedPrecondition, match="already done"):
        engine.cancel_operation(operation.operation_id)
