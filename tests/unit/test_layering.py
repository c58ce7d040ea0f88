"""The dependency rule of the design: faces call the Engine and never touch
the store, the registry or the frameworks; the engine never imports a face."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mlnb"
FACES = ("cli", "server", "magics", "widgets", "labserver")
ENGINE_INTERNALS = (
    "mlnb.store",
    "mlnb.registry",
    "mlnb.frameworks",
    "mlnb.prediction",
    "mlnb.jobs",
    "mlnb.training",
    "mlnb.tuning",
    "mlnb.batch",
)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py")) if (PACKAGE / sub).is_dir() else []


@pytest.mark.parametrize("face", FACES)
def test_faces_use_only_the_engine(face: str) -> None:
    for path in modules(face):
        bad = [m for m in imports_of(path) if m.startswith(ENGINE_INTERNALS)]
        assert bad == [], f"{path.relative_to(PACKAGE)} imports {bad}"


def test_the_engine_never_imports_a_face() -> None:
    engine_parts = ["store", "registry", "frameworks", "prediction", "jobs", "training", "tuning"]
    faces = tuple(f"mlnb.{face}" for face in FACES)
    for part in engine_parts:
        for path in modules(part):
            bad = [m for m in imports_of(path) if m.startswith(faces)]
            assert bad == [], f"{path.relative_to(PACKAGE)} imports {bad}"


def test_the_store_imports_nothing_above_it() -> None:
    above = ("mlnb.registry", "mlnb.frameworks", "mlnb.prediction", "mlnb.api")
    for path in modules("store"):
        bad = [m for m in imports_of(path) if m.startswith(above)]
        assert bad == [], f"{path.relative_to(PACKAGE)} imports {bad}"
