"""Metadata database and artifact store.

Everything below this package is private: the rest of mlnb uses the names
exported here, and ORM rows never leave it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlnb.store.artifacts import (
        ArtifactStore,
        StoredTree,
        file_sha256,
        list_files,
        local_copy,
        uri_exists,
        verify_tree,
    )
    from mlnb.store.database import Database
    from mlnb.store.evaluations_tx import BaselinesTx, EvaluationsTx
    from mlnb.store.jobs_tx import JobsTx
    from mlnb.store.logs_tx import LogsTx
    from mlnb.store.operations_tx import OperationsTx
    from mlnb.store.pipelines_tx import PipelinesTx
    from mlnb.store.prediction_logs_tx import PredictionLogsTx
    from mlnb.store.registry_tx import RegistryTx
    from mlnb.store.schedules_tx import SchedulesTx
    from mlnb.store.served_counts_tx import ServedCountsTx

# Loaded on first use, so that a process that needs only the artifact store
# (a batch prediction worker) does not import SQLAlchemy.
_HOMES = {
    "ArtifactStore": "artifacts",
    "StoredTree": "artifacts",
    "file_sha256": "artifacts",
    "list_files": "artifacts",
    "local_copy": "artifacts",
    "uri_exists": "artifacts",
    "verify_tree": "artifacts",
    "Database": "database",
    "EvaluationsTx": "evaluations_tx",
    "BaselinesTx": "evaluations_tx",
    "JobsTx": "jobs_tx",
    "LogsTx": "logs_tx",
    "OperationsTx": "operations_tx",
    "PipelinesTx": "pipelines_tx",
    "PredictionLogsTx": "prediction_logs_tx",
    "RegistryTx": "registry_tx",
    "SchedulesTx": "schedules_tx",
    "ServedCountsTx": "served_counts_tx",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mlnb.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mlnb.store.{_HOMES[name]}"), name)


__all__ = [
    "ArtifactStore",
    "BaselinesTx",
    "Database",
    "EvaluationsTx",
    "JobsTx",
    "LogsTx",
    "OperationsTx",
    "PipelinesTx",
    "PredictionLogsTx",
    "RegistryTx",
    "SchedulesTx",
    "ServedCountsTx",
    "StoredTree",
    "file_sha256",
    "list_files",
    "local_copy",
    "uri_exists",
    "verify_tree",
]
