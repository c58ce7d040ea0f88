"""What a trainer sees: TF_CONFIG, CLOUD_ML_* variables, and its arguments,
as ML Engine set them, so that trainers written for it run unchanged."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlnb.runtime.replicas import Replica

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(value: Any) -> Any:
    """Keys of nested dicts from camelCase to snake_case (TF_CONFIG's ``job``)."""
    if isinstance(value, Mapping):
        return {_CAMEL.sub("_", str(k)).lower(): snake_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_case(v) for v in value]
    return value


def cluster_spec(replicas: Sequence[Replica], addresses: Sequence[str]) -> dict[str, list[str]]:
    """TF_CONFIG's ``cluster``: task type to ``host:port`` list, in index order."""
    cluster: dict[str, list[str]] = {}
    for replica, address in zip(replicas, addresses, strict=True):
        cluster.setdefault(replica.task_type, []).append(address)
    return cluster


def replica_environment(
    job_id: str,
    training_input: Mapping[str, Any],
    cluster: Mapping[str, list[str]],
    replica: Replica,
    trial_id: str | None = None,
) -> dict[str, str]:
    """The variables ML Engine set for one replica."""
    job = snake_case(dict(training_input)) | {"job_name": job_id}
    tf_config = {
        "cluster": dict(cluster),
        "task": {"type": replica.task_type, "index": replica.index, "trial": trial_id or ""},
        "job": job,
        "environment": "cloud",
    }
    variables = {
        "TF_CONFIG": json.dumps(tf_config),
        "CLOUD_ML_JOB_ID": job_id,
        "CLOUD_ML_JOB": json.dumps(job),
        # Lines reach the log as they are printed, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
    }
    if trial_id:
        variables["CLOUD_ML_TRIAL_ID"] = trial_id
    return variables
