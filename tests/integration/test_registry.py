"""The registry rules, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted

pytestmark = pytest.mark.integration


def test_model_crud_and_fields(any_engine: Engine) -> None:
    created = any_engine.create_model("census", description="income", labels={"team": "ml"})
    assert created.resource_name == "projects/default/models/census"
    body = created.to_api()
    assert body["name"] == "projects/default/models/census"
    assert body["description"] == "income"
    assert body["labels"] == {"team": "ml"}
    assert body["onlinePredictionLogging"] is False
    assert "defaultVersion" not in body
    assert [m.name for m in any_engine.list_models()] == ["census"]
    with pytest.raises(AlreadyExists, match="Model 'census' already exists"):
        any_engine.create_model("census")
    updated = any_engine.update_model("census", labels={"team": "core"}, etag=created.etag)
    assert updated.labels == {"team": "core"}
    with pytest.raises(FailedPrecondition, match="changed since it was read"):
        any_engine.update_model("census", description="x", etag=created.etag)
    any_engine.delete_model("census")
    with pytest.raises(NotFound, match="Model 'census' does not exist"):
        any_engine.get_model("census")


def test_projects_are_separate(any_engine: Engine) -> None:
    any_engine.create_model("m", project="alpha")
    any_engine.create_model("m", project="beta")
    assert [m.name for m in any_engine.list_models(project="alpha")] == ["m"]
    assert any_engine.list_models() == []


def test_first_ready_version_is_default_and_set_default_moves_it(
    any_engine: Engine, sklearn_model: tuple[Path, Any]
) -> None:
    origin = sklearn_model[0]
    any_engine.create_model("iris")
    v1 = any_engine.create_version("iris", "v1", origin)
    v2 = any_engine.create_version("iris", "v2", origin, description="second")
    assert (v1.state, v1.is_default, v1.framework) == ("READY", True, "SCIKIT_LEARN")
    assert (v2.state, v2.is_default) == ("READY", False)
    assert any_engine.get_model("iris").default_version.name == "v1"  # type: ignore[union-attr]
    any_engine.set_default_version("iris", "v2")
    assert any_engine.get_model("iris").default_version.name == "v2"  # type: ignore[union-attr]
    assert [v.is_default for v in any_engine.list_versions("iris")] == [False, True]
    with pytest.raises(AlreadyExists, match="already has a version 'v1'"):
        any_engine.create_version("iris", "v1", origin)
    with pytest.raises(NotFound, match=r"no version 'v9' \(versions: v1, v2\)"):
        any_engine.get_version("iris", "v9")


def test_deletion_rules(any_engine: Engine, sklearn_model: tuple[Path, Any]) -> None:
    origin = sklearn_model[0]
    any_engine.create_model("iris")
    v1 = any_engine.create_version("iris", "v1", origin)
    any_engine.create_version("iris", "v2", origin)
    with pytest.raises(FailedPrecondition, match="Model 'iris' still has versions"):
        any_engine.delete_model("iris")
    with pytest.raises(FailedPrecondition, match="'v1' is the default of model 'iris'"):
        any_engine.delete_version("iris", "v1")
    any_engine.delete_version("iris", "v2")
    # The default may go when it is the last version; the model is left without one.
    any_engine.delete_version("iris", "v1")
    assert any_engine.get_model("iris").default_version is None
    assert v1.artifact_uri is not None and not Path(v1.artifact_uri).exists()
    any_engine.delete_model("iris")
    assert any_engine.list_models() == []


def test_model_quota(home: Path, sklearn_model: tuple[Path, Any]) -> None:
    engine = Engine(Settings.resolve(env={}, home=str(home), model_quota=2, version_quota=3))
    engine.create_model("a")
    engine.create_model("b")
    with pytest.raises(ResourceExhausted, match="has 2 models, its quota"):
        engine.create_model("c")
    assert ResourceExhausted.status == "RESOURCE_EXHAUSTED"
    for name in ("v1", "v2"):
        engine.create_version("a", name, sklearn_model[0])
    engine.create_version("b", "v1", sklearn_model[0])
    with pytest.raises(ResourceExhausted, match="has 3 versions, its quota"):
        engine.create_version("b", "v2", sklearn_model[0])
    engine.close()


def test_bad_inputs_record_nothing(
    any_engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    any_engine.create_model("iris")
    with pytest.raises(InvalidArgument, match="must begin with a letter"):
        any_engine.create_version("iris", "2v", sklearn_model[0])
    with pytest.raises(InvalidArgument, match="does not exist"):
        any_engine.create_version("iris", "v1", tmp_path / "missing")
    with pytest.raises(InvalidArgument, match="Unknown framework 'caffe'"):
        any_engine.create_version("iris", "v1", sklearn_model[0], framework="caffe")
    with pytest.raises(NotFound, match="Model 'nope' does not exist"):
        any_engine.create_version("nope", "v1", sklearn_model[0])
    assert any_engine.list_versions("iris") == []


def test_history_and_default_at_a_time(any_engine: Engine, sklearn_model: tuple[Path, Any]) -> None:
    origin = sklearn_model[0]
    any_engine.create_model("iris")
    any_engine.create_version("iris", "v1", origin)
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    any_engine.create_version("iris", "v2", origin)
    any_engine.set_default_version("iris", "v2", actor="alice")
    any_engine.update_model("iris", labels={"stage": "prod"})
    events = any_engine.model_history("iris")
    actions = [(e.action, e.version) for e in events]
    assert actions == [
        ("MODEL_CREATED", None),
        ("VERSION_CREATED", "v1"),
        ("DEFAULT_CHANGED", "v1"),
        ("VERSION_CREATED", "v2"),
        ("DEFAULT_CHANGED", "v2"),
        ("MODEL_UPDATED", None),
    ]
    assert events[4].actor == "alice" and events[4].details == {"previous": "v1"}
    assert events[5].details == {"labels": {"before": {}, "after": {"stage": "prod"}}}
    assert events[0].actor == "tester"
    assert any_engine.default_version_at("iris", between) == "v1"
    assert any_engine.default_version_at("iris", datetime.now(UTC)) == "v2"
    assert any_engine.default_version_at("iris", events[0].time - timedelta(seconds=1)) is None


def test_history_outlives_the_model(any_engine: Engine) -> None:
    any_engine.create_model("gone")
    any_engine.delete_model("gone")
    assert [e.action for e in any_engine.model_history("gone")] == ["MODEL_CREATED", "MODEL_DELETED"]
    with pytest.raises(NotFound, match="no history"):
        any_engine.model_history("never")


def test_version_fields_follow_the_discovery_document(
    any_engine: Engine, sklearn_model: tuple[Path, Any]
) -> None:
    from support.ml_v1 import schema_properties

    any_engine.create_model("iris", labels={"a": "b"})
    version = any_engine.create_version(
        "iris",
        "v1",
        sklearn_model[0],
        labels={"x": "y"},
        runtime_version="2.11",
        python_version="3.11",
        manual_scaling={"nodes": 2},
        description="d",
        machine_type="n1-standard-2",
    )
    assert set(version.to_api()) <= schema_properties("GoogleCloudMlV1__Version")
    assert set(any_engine.get_model("iris").to_api()) <= schema_properties("GoogleCloudMlV1__Model")
    body = version.to_api()
    assert body["manualScaling"] == {"nodes": 2}
    assert body["createTime"].endswith("Z")


def test_a_listener_that_fails_never_fails_the_change_it_hears_of(
    engine: Engine, sklearn_model: tuple[Path, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from mlnb.records import ModelEvent, ModelRecord
    from mlnb.registry import ModelRegistry
    from mlnb.store import Database

    class Broken:
        actions = frozenset({"DEFAULT_CHANGED"})

        def __init__(self) -> None:
            self.heard: list[str] = []

        def __call__(self, model: ModelRecord, event: ModelEvent) -> None:
            self.heard.append(f"{event.action} {event.version}")
            raise RuntimeError("the listener broke")

    engine.deploy("iris", "v1", sklearn_model[0])
    engine.deploy("iris", "v2", sklearn_model[0])
    broken = Broken()
    database = Database(engine.settings.database_url)  # the store the engine wrote
    try:
        with caplog.at_level("ERROR", logger="mlnb.registry.models"):
            changed = ModelRegistry(database, 10, 10, broken).set_default_version(
                "default", "iris", "v2", "me"
            )
    finally:
        database.dispose()
    assert changed.is_default
    assert broken.heard == ["DEFAULT_CHANGED v2"]
    assert "Could not tell of DEFAULT_CHANGED of model default/iris" in caplog.text
    assert engine.get_model("iris").default_version.name == "v2"  # type: ignore[union-attr]
