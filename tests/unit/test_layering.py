"""The dependency rule of the design, read from the imports of every module
of ``mlnb/`` (function-level and ``TYPE_CHECKING`` imports included): each
part imports only parts on its own floor or below, faces reach the engine
only through ``Engine``, and no import cycle joins two modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mlnb"

# Bottom to top. A part is a subpackage or a top-level module of mlnb.
FLOORS: tuple[tuple[str, ...], ...] = (
    # The vocabulary every layer shares.
    (
        "mlnb._version",
        "mlnb.errors",
        "mlnb.durations",
        "mlnb.config",
        "mlnb.naming",
        "mlnb.locations",
        "mlnb.listing",
        "mlnb.states",
        "mlnb.records",
    ),
    ("mlnb.store", "mlnb.frameworks"),
    # What the job kinds stand on, and the registry and prediction.
    (
        "mlnb.runtime",
        "mlnb.prediction",
        "mlnb.registry",
        "mlnb.explain",
        "mlnb.evaluation",
        "mlnb.monitoring",
        "mlnb.schedules",
    ),
    # The job kinds.
    ("mlnb.training", "mlnb.tuning", "mlnb.batch", "mlnb.notebook", "mlnb.rollout", "mlnb.pipelines"),
    # The job service: the registry of kinds, hosts, runners, leases.
    ("mlnb.jobs",),
    # The engine and what ships beside it.
    (
        "mlnb.api",
        "mlnb.jobs_api",
        "mlnb.batch_api",
        "mlnb.predict_api",
        "mlnb.evaluation_api",
        "mlnb.monitoring_api",
        "mlnb.operations_api",
        "mlnb.models_api",
        "mlnb.schedules_api",
        "mlnb.job_host",
        "mlnb.pipeline_run",
        "mlnb.local_server",
        "mlnb.tensorboard",
        "mlnb.testing",
    ),
    # The faces, and the package's own entry points.
    ("mlnb.cli", "mlnb.server", "mlnb.magics", "mlnb.widgets", "mlnb.labserver", "mlnb", "mlnb.__main__"),
)
FACES = ("cli", "server", "magics", "widgets", "labserver")
ENGINE_INTERNALS = tuple(part for floor in FLOORS[1:5] for part in floor)


def module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(PACKAGE.parent).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@cache
def imports_of(module: str) -> frozenset[str]:
    """The mlnb modules that ``module`` imports (``from pkg import sub`` names ``pkg.sub``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            names |= submodules if len(submodules) == len(node.names) else {node.module, *submodules}
    return frozenset(n for n in names if n in MODULES and n != module)


def part_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def floor_of(module: str) -> int:
    part = part_of(module)
    for level, parts in enumerate(FLOORS):
        if part in parts:
            return level
    raise AssertionError(f"{part} has no floor in FLOORS: give it one")


def test_every_part_has_a_floor() -> None:
    for module in MODULES:
        floor_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_up_a_floor(module: str) -> None:
    up = [m for m in imports_of(module) if floor_of(m) > floor_of(module)]
    assert up == [], f"{module} (floor {floor_of(module)}) imports {up} from a floor above"


@pytest.mark.parametrize("face", FACES)
def test_faces_use_only_the_engine(face: str) -> None:
    for module in [m for m in MODULES if part_of(m) == f"mlnb.{face}"]:
        bad = [m for m in imports_of(module) if part_of(m) in ENGINE_INTERNALS]
        assert bad == [], f"{module} imports {bad}"


def test_no_import_cycle() -> None:
    # Tarjan's strongly connected components over the module graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in imports_of(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = [stack.pop()]
            while component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert cycles == []


def test_parts_on_one_floor_do_not_import_each_other_both_ways() -> None:
    arrows: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for other in imports_of(module):
            if part_of(other) != part_of(module):
                arrows[part_of(module)].add(part_of(other))
    both = sorted(
        (a, b) for a, targets in arrows.items() for b in targets if a < b and a in arrows.get(b, ())
    )
    assert both == []
