"""Several processes on one SQLite file: none of their writes is lost and no
"database is locked" reaches a user."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path
from typing import Any

import pytest

from mlnb.api import Engine
from mlnb.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRITERS = 8
VERSIONS_EACH = 3


def _create_versions(home: str, origin: str, writer: int, start: Any, errors: Any) -> None:
    try:
        engine = Engine(Settings.resolve(env={}, home=home, actor=f"writer{writer}"))
        start.wait()
        for i in range(VERSIONS_EACH):
            version = engine.create_version("shared", f"w{writer}_v{i}", origin)
            if version.state != "READY":
                errors.put(f"w{writer}_v{i}: {version.state} {version.error_message}")
        engine.create_model(f"own_{writer}")
        engine.close()
    except BaseException:
        errors.put(traceback.format_exc())


def test_eight_processes_create_versions_in_one_sqlite_file(
    home: Path, sklearn_model: tuple[Path, Any]
) -> None:
    Engine(home=str(home)).create_model("shared")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    errors = context.Queue()
    workers = [
        context.Process(target=_create_versions, args=(str(home), str(sklearn_model[0]), w, start, errors))
        for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=300)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert all(worker.exitcode == 0 for worker in workers)
    engine = Engine(home=str(home))
    names = {v.name for v in engine.list_versions("shared")}
    assert names == {f"w{w}_v{i}" for w in range(WRITERS) for i in range(VERSIONS_EACH)}
    assert len(engine.list_models()) == WRITERS + 1
    # Exactly one of them became the default, and the history says which.
    default = engine.get_model("shared").default_version
    assert default is not None
    changes = [e for e in engine.model_history("shared") if e.action == "DEFAULT_CHANGED"]
    assert [e.version for e in changes] == [default.name]


def test_first_use_by_many_processes_migrates_once(home: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    errors = context.Queue()
    workers = [
        context.Process(target=_create_model_only, args=(str(home), w, start, errors)) for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert len(Engine(home=str(home)).list_models()) == WRITERS


def _create_model_only(home: str, writer: int, start: Any, errors: Any) -> None:
    try:
        engine = Engine(Settings.resolve(env={}, home=home))
        start.wait()
        engine.create_model(f"m{writer}")
        engine.close()
    except BaseException:
        errors.put(traceback.format_exc())
