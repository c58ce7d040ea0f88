"""The metadata database: engine set-up, migrations, transaction scopes.

SQLite (the default) gets WAL, foreign keys, a busy timeout and
``BEGIN IMMEDIATE`` for write transactions, so that kernels, job workers and
servers can share one file. On PostgreSQL, the registry's write transactions
take one advisory lock, so that read-then-write rules across tables (quotas,
defaults) hold across processes; the jobs' writes lock only their rows (and
a named lock where a rule spans rows), so that dozens of job hosts renewing
leases do not queue behind one another.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from mlnb.errors import AlreadyExists, FailedPrecondition, InvalidArgument, MlnbError, Unavailable

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Comparing against it first spares every process
# Alembic's import (half a second) when the schema is current; a test checks
# that it matches the newest script.
SCHEMA_HEAD = "0018"
# Any constant works: it only has to be the same in every mlnb process.
_PG_WRITE_LOCK = 0x6D6C6E62


def create_db_engine(url: str, busy_timeout_s: float = 30.0) -> Engine:
    """An SQLAlchemy engine for ``url``, set up for several processes.

    Raises:
        InvalidArgument: The URL cannot be parsed or names no known driver.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise InvalidArgument(f"MLNB_DATABASE_URL {url!r} is not a database URL: {e}") from e
    if parsed.drivername == "postgresql":
        # psycopg 3 is what mlnb[postgres] installs; SQLAlchemy defaults to psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_s)
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, ImportError) as e:
        raise InvalidArgument(f"Cannot use database {url!r}: {e}") from e
    return engine


def _sqlite_engine(url: Any, busy_timeout_s: float) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the lock up front; a deferred transaction that later
        # writes can fail with "database is locked" without waiting at all.
        immediate = conn.get_execution_options().get("mlnb_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """One metadata database: migrated on first use, with transaction scopes."""

    def __init__(self, url: str, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.engine = create_db_engine(url, busy_timeout_s)
        self._write_engine = self.engine.execution_options(mlnb_write=True)
        self._migrated = False
        self._writes = 0
        self._count_lock = threading.Lock()

    @property
    def write_transactions(self) -> int:
        """Write transactions this object has begun (for reports and benchmarks)."""
        return self._writes

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def ensure_schema(self) -> None:
        """Apply pending migrations once per process; refuse a newer database.

        Raises:
            FailedPrecondition: The database was written by a newer mlnb.
        """
        if self._migrated:
            return
        if self.current_revision() != SCHEMA_HEAD:
            with self._migration_lock():
                current = self.current_revision()
                if current != SCHEMA_HEAD:
                    self._check_known(current)
                    self._upgrade()
        self._migrated = True

    def current_revision(self) -> str | None:
        """The schema revision stamped in the database (``None`` when new)."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return str(revision) if revision is not None else None

    def _check_known(self, current: str | None) -> None:
        from alembic.script import ScriptDirectory

        if current is None:
            return
        scripts = ScriptDirectory.from_config(_alembic_config())
        if current not in {s.revision for s in scripts.walk_revisions()}:
            raise FailedPrecondition(
                f"The database {self._safe_url()} has schema revision {current!r}, "
                f"newer than this mlnb knows (latest {SCHEMA_HEAD!r}). "
                "Upgrade mlnb (pip install -U mlnb) or point MLNB_DATABASE_URL elsewhere."
            )

    def _upgrade(self) -> None:
        from alembic import command

        config = _alembic_config()
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # Several processes may open a new database at once; one migrates.
        if self.is_sqlite:
            database = self.engine.url.database
            if not database or database == ":memory:":
                yield
                return
            with open(f"{database}.migrate.lock", "a+") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        else:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_WRITE_LOCK + 1})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_WRITE_LOCK + 1})
                    conn.commit()

    @contextlib.contextmanager
    def session(self, write: bool = False, serialize: bool = True) -> Iterator[Session]:
        """A session that commits at the end, rolls back on error, and turns
        database errors into mlnb errors.

        Args:
            write: A transaction that reads and then writes: SQLite takes
                the write lock at the start (``BEGIN IMMEDIATE``).
            serialize: With ``write``, PostgreSQL also takes the one
                database-wide advisory lock. Without it the transaction must
                lock what it reads to change (``FOR UPDATE``, ``lock_name``).
        """
        self.ensure_schema()
        bind = self._write_engine if write else self.engine
        if write:
            with self._count_lock:
                self._writes += 1
        started = time.monotonic()
        try:
            with Session(bind, expire_on_commit=False) as session, session.begin():
                if write and serialize and not self.is_sqlite:
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
                yield session
        except MlnbError:
            raise
        except IntegrityError as e:
            raise AlreadyExists(f"A resource with that name exists already ({e.orig})") from e
        except OperationalError as e:
            if "locked" in str(e.orig) or "busy" in str(e.orig):
                waited = time.monotonic() - started
                raise Unavailable(f"The metadata database is busy (waited {waited:.1f} s); try again") from e
            raise Unavailable(f"The metadata database {self._safe_url()} failed: {e.orig}") from e
        except SQLAlchemyError as e:
            # The statement and its parameters stay in the traceback, for the
            # logs: an answer never carries SQL.
            raise MlnbError(f"Metadata database error ({type(e).__name__}); see the server's log") from e

    def lock_name(self, session: Session, name: str) -> None:
        """Hold a lock named ``name`` until the session's transaction ends
        (PostgreSQL; on SQLite the writer's lock already covers it)."""
        if not self.is_sqlite:
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        """Close pooled connections (before a process forks, or at exit)."""
        self.engine.dispose()


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config
