"""Shared fixtures: a fresh MLNB_HOME per test, a PostgreSQL server for the
store suite, and tiny real models trained once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import model_factory

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.runtime.ports import free_port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "mlnb-home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings.resolve(env={}, home=str(home), actor="tester")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = Engine(settings)
    yield engine
    engine.close()


# PostgreSQL --------------------------------------------------------------


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the package creates a postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1, started for this session."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        if os.environ.get("MLNB_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (MLNB_REQUIRE_POSTGRES=1) but initdb was not found")
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql); .ci/run installs them")
    root = Path(tempfile.mkdtemp(prefix="mlnb-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    data = root / "data"
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


_pg_counter = 0


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """A new, empty database on the session's server."""
    global _pg_counter
    _pg_counter += 1
    name = f"mlnb_test_{os.getpid()}_{_pg_counter}"
    import sqlalchemy

    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest, home: Path) -> Iterator[Engine]:
    """The Engine on SQLite, then on PostgreSQL."""
    # A job host it starts leaves soon after its last job or schedule.
    overrides: dict[str, Any] = {"home": str(home), "actor": "tester", "job_host_idle_s": 3.0}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("fresh_postgres_url")
    engine = Engine(Settings.resolve(env={}, **overrides))
    yield engine
    engine.close()


# Models --------------------------------------------------------------------


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def iris_features() -> Any:
    return model_factory.iris()[0]


@pytest.fixture(scope="session")
def sklearn_model(models_root: Path) -> tuple[Path, Any]:
    return model_factory.sklearn_pipeline_dir(models_root / "sklearn")


@pytest.fixture(scope="session")
def xgboost_model(models_root: Path) -> tuple[Path, Any]:
    return model_factory.xgboost_booster_dir(models_root / "xgboost")


@pytest.fixture(scope="session")
def keras_model(models_root: Path) -> tuple[Path, Any]:
    return model_factory.keras_dir(models_root / "keras")


@pytest.fixture(scope="session")
def saved_model(models_root: Path) -> tuple[Path, Any]:
    return model_factory.savedmodel_dir(models_root / "savedmodel")
