"""Scale tiers and replicas: what ML Engine's trainingInput asks for, as
processes on one machine.

Each tier maps to a master (or chief) and a number of workers and parameter
servers. On one machine the defaults are small enough for a laptop; the
``scale_tiers`` setting changes them (``{"STANDARD_1": {"workers": 4, "ps": 2}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.runtime.replicas import Replica

DEFAULT_TIERS: dict[str, dict[str, int]] = {
    "BASIC": {"workers": 0, "ps": 0, "gpus": 0},
    "STANDARD_1": {"workers": 2, "ps": 1, "gpus": 0},
    "PREMIUM_1": {"workers": 3, "ps": 1, "gpus": 0},
    "BASIC_GPU": {"workers": 0, "ps": 0, "gpus": 1},
    # No TPU here: the master runs on the CPU, and the job log says so.
    "BASIC_TPU": {"workers": 0, "ps": 0, "gpus": 0},
}
SCALE_TIERS = (*DEFAULT_TIERS, "CUSTOM")


def plan_replicas(
    training_input: Mapping[str, Any], tiers: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Replica]:
    """The replicas a trainingInput asks for, master first.

    Raises:
        InvalidArgument: An unknown tier, or a CUSTOM tier without masterType,
            or a negative count.
    """
    tier = str(training_input.get("scaleTier") or "BASIC").upper()
    known = {**DEFAULT_TIERS, **{k.upper(): dict(v) for k, v in (tiers or {}).items()}}
    master = "chief" if training_input.get("useChiefInTfConfig") else "master"
    if tier == "CUSTOM":
        return _custom(training_input, master)
    if tier not in known:
        raise InvalidArgument(f"Unknown scaleTier {tier!r}; known tiers: {', '.join(SCALE_TIERS)}")
    spec = {**DEFAULT_TIERS.get(tier, {}), **known[tier]}
    gpus = int(spec.get("gpus", 0))
    replicas = [Replica(master, 0, gpus)]
    replicas += [Replica("worker", i, gpus) for i in range(int(spec.get("workers", 0)))]
    replicas += [Replica("ps", i) for i in range(int(spec.get("ps", 0)))]
    return replicas


def _custom(training_input: Mapping[str, Any], master: str) -> list[Replica]:
    if not training_input.get("masterType"):
        raise InvalidArgument("scaleTier CUSTOM needs masterType (for example n1-standard-4)")
    workers = _count(training_input, "workerCount")
    servers = _count(training_input, "parameterServerCount")
    if workers and not training_input.get("workerType"):
        raise InvalidArgument("workerCount is set, so scaleTier CUSTOM needs workerType too")
    if servers and not training_input.get("parameterServerType"):
        raise InvalidArgument(
            "parameterServerCount is set, so scaleTier CUSTOM needs parameterServerType too"
        )
    master_gpus = _gpus(training_input.get("masterConfig"))
    worker_gpus = _gpus(training_input.get("workerConfig"))
    replicas = [Replica(master, 0, master_gpus)]
    replicas += [Replica("worker", i, worker_gpus) for i in range(workers)]
    replicas += [Replica("ps", i, _gpus(training_input.get("parameterServerConfig"))) for i in range(servers)]
    return replicas


def _count(training_input: Mapping[str, Any], key: str) -> int:
    # The API sends int64 fields as strings.
    value = training_input.get(key) or 0
    try:
        count = int(value)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{key} must be a whole number, got {value!r}") from e
    if count < 0:
        raise InvalidArgument(f"{key} must not be negative, got {count}")
    return count


def _gpus(config: Any) -> int:
    if not isinstance(config, Mapping):
        return 0
    accelerator = config.get("acceleratorConfig") or {}
    return int(accelerator.get("count") or 0) if isinstance(accelerator, Mapping) else 0
