"""The metadata store: migrations, SQLite settings, refusal of newer schemas,
and the artifact store on a local folder and on memory://."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mlnb.api import Engine
from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.store import ArtifactStore, Database
from mlnb.store.database import SCHEMA_HEAD

pytestmark = pytest.mark.integration


def test_schema_head_constant_matches_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    from mlnb.store.database import _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == SCHEMA_HEAD


def test_first_use_creates_and_stamps_the_database(home: Path) -> None:
    engine = Engine(home=str(home))
    engine.list_models()
    with sqlite3.connect(home / "mlnb.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"models", "versions", "model_events", "alembic_version"} <= tables


def test_a_newer_database_is_refused(home: Path) -> None:
    Engine(home=str(home)).list_models()
    with sqlite3.connect(home / "mlnb.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(FailedPrecondition, match="schema revision '9999', newer than this mlnb knows"):
        Engine(home=str(home)).list_models()


@pytest.mark.postgres
def test_postgres_is_migrated_on_first_use(fresh_postgres_url: str) -> None:
    db = Database(fresh_postgres_url)
    assert db.current_revision() is None
    db.ensure_schema()
    assert db.current_revision() == SCHEMA_HEAD
    db.dispose()


def test_bad_database_url_is_named() -> None:
    with pytest.raises(InvalidArgument, match="is not a database URL"):
        Database("not a url")


@pytest.mark.parametrize("root", ["local", "memory://artifact-test"])
def test_artifact_store_round_trip(tmp_path: Path, root: str) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts") if root == "local" else root, tmp_path / "cache")
    origin = tmp_path / "origin"
    (origin / "sub").mkdir(parents=True)
    (origin / "a.txt").write_text("alpha")
    (origin / "sub" / "b.bin").write_bytes(b"\x00\x01")
    tree = store.import_tree(str(origin), "models/x")
    assert set(tree.files) == {"a.txt", "sub/b.bin"}
    local = store.local_dir(tree.uri, tree.files)
    assert (local / "a.txt").read_text() == "alpha"
    assert (local / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    store.delete_tree(tree.uri)
    with pytest.raises(InvalidArgument, match="does not exist"):
        store.import_tree(str(tmp_path / "missing"), "models/y")


def test_artifact_store_refuses_changed_files(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"), tmp_path / "cache")
    (tmp_path / "origin").mkdir()
    (tmp_path / "origin" / "model.pkl").write_bytes(b"original")
    tree = store.import_tree(str(tmp_path / "origin"), "m")
    (Path(tree.uri) / "model.pkl").write_bytes(b"changed!")
    with pytest.raises(FailedPrecondition, match=r"model\.pkl changed or disappeared"):
        store.local_dir(tree.uri, tree.files)


def test_a_database_from_release_0_1_0_opens_and_upgrades(home: Path) -> None:
    dump = Path(__file__).parents[1] / "data" / "mlnb-0.1.0.sql"
    with sqlite3.connect(home / "mlnb.db") as conn:
        conn.executescript(dump.read_text())
    engine = Engine(home=str(home))
    model = engine.get_model("census")
    assert model.description == "made by mlnb 0.1.0" and model.labels == {"team": "ml"}
    assert [(v.name, v.state) for v in engine.list_versions("census")] == [("v1", "FAILED")]
    assert [e.actor for e in engine.model_history("census")] == ["release-0.1.0", "release-0.1.0"]
    with sqlite3.connect(home / "mlnb.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)


def test_the_migrations_make_the_tables_the_code_declares(tmp_path: Path) -> None:
    """A column or index added to the ORM rows without a migration (or the
    other way round) shows here, not on a user's upgraded database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from mlnb.store.schema import Base

    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    Database(url).ensure_schema()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_each_schedules_newest_run_is_read_at_once_on_both_stores(any_engine: Engine) -> None:
    # Runs refused at submission (no such model): recorded, with their error.
    refused = {"predictionInput": {"modelName": "nothing", "inputPaths": ["x.json"], "outputPath": "out"}}
    names = ("first", "second", "idle")
    for name in names:
        any_engine.create_schedule(name, {"interval": "1d", "jobTemplate": refused})
    try:
        for name in ("first", "second", "second"):
            with pytest.raises(FailedPrecondition):
                any_engine.run_schedule(name)
        listed = {s.name: s for s in any_engine.list_schedules(newest_run=True)}
        assert listed["idle"].recent_runs == ()
        for name in ("first", "second"):
            (newest,) = listed[name].recent_runs
            assert newest == any_engine.schedule_runs(name)[0] and newest.to_api()["state"] == "FAILED"
        assert len(any_engine.schedule_runs("second")) == 2
    finally:
        for name in names:  # an active schedule keeps the machine's job host
            any_engine.delete_schedule(name)


def test_served_counts_from_two_servers_sum_and_age_out_on_both_stores(any_engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from mlnb.prediction import ServedCounts
    from mlnb.store import Database, ServedCountsTx

    since = datetime.now(UTC) - timedelta(seconds=1)
    databases = [Database(any_engine.settings.database_url) for _ in range(3)]
    try:
        one, two, reader = (ServedCounts(database) for database in databases)  # two serving processes
        for _ in range(30):
            one.note("default", "m", "v1", 0.002, False)
        for failed in (True, False, True):
            two.note("default", "m", "v2", 0.2, failed)
        two.note("default", "other", "v1", 0.001, False)
        one.close()
        two.close()
        tallies = reader.tallies("default", "m", since)
        assert sorted(tallies) == ["v1", "v2"]
        counted = (tallies["v1"].requests, tallies["v1"].errors, tallies["v2"].requests, tallies["v2"].errors)
        assert counted == (30, 0, 3, 2)
        p99 = tallies["v2"].quantile_ms(0.99)
        assert p99 is not None and 160 < p99 < 240  # 200 ms, within its bucket
        assert reader.tallies("default", "m", datetime.now(UTC) + timedelta(seconds=1)) == {}
        # A day on, the writers drop them.
        with databases[2].session(write=True) as session:
            ServedCountsTx(session).prune(datetime.now(UTC) + timedelta(days=1))
        assert reader.tallies("default", "m", since) == {}
    finally:
        for database in databases:
            database.dispose()


def test_served_counts_past_two_minutes_are_merged_by_the_minute_on_both_stores(any_engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta
    from typing import Any

    from mlnb.prediction import ServedCounts
    from mlnb.store import Database, ServedCountsTx

    at = datetime.now(UTC)
    minute = (at - timedelta(minutes=10)).replace(second=0, microsecond=0)  # a whole minute, long past

    def line(version: str, end: datetime, requests: int, errors: int, latency: dict[str, int]) -> Any:
        return ("default", "merged", version, end, requests, errors, latency)

    lines = [  # three servers' seconds of v1 in one minute, one of v2, v1's next minute, v1 now
        line("v1", minute - timedelta(seconds=55), 2, 0, {"10": 2}),
        line("v1", minute - timedelta(seconds=40), 3, 1, {"10": 2, "20": 1}),
        line("v1", minute, 4, 0, {"20": 4}),
        line("v2", minute - timedelta(seconds=30), 5, 5, {"30": 5}),
        line("v1", minute + timedelta(seconds=30), 6, 0, {"10": 6}),
        line("v1", at - timedelta(seconds=10), 7, 0, {"10": 7}),
    ]
    since = minute - timedelta(minutes=5)
    databases = [Database(any_engine.settings.database_url) for _ in range(2)]
    try:
        with databases[0].session(write=True) as session:
            ServedCountsTx(session).append(lines)
        counts = [ServedCounts(database) for database in databases]  # two serving processes
        before = counts[0].tallies("default", "merged", since)

        def rows() -> list[Any]:
            with databases[0].session() as session:
                return sorted(ServedCountsTx(session).since("default", "merged", since), key=str)

        assert counts[0].compact(at) == 2
        assert rows() == sorted([line("v1", minute, 9, 1, {"10": 4, "20": 5}), *lines[3:]], key=str)
        assert counts[1].tallies("default", "merged", since) == before
        assert counts[1].compact(at) == 0  # the other server finds it merged: left as it is
        # A row that comes late to a merged minute (a lagging clock) is merged with it.
        with databases[1].session(write=True) as session:
            ServedCountsTx(session).append([line("v1", minute - timedelta(seconds=5), 1, 1, {"40": 1})])
        assert counts[1].compact(at) == 1
        assert line("v1", minute, 10, 2, {"10": 4, "20": 5, "40": 1}) in rows() and len(rows()) == 4
    finally:
        for database in databases:
            database.dispose()
