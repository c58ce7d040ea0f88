"""Metadata database and artifact store.

Everything below this package is private: the rest of mlnb uses the names
exported here, and ORM rows never leave it.
"""

from __future__ import annotations

from mlnb.store.artifacts import (
    ArtifactStore,
    StoredTree,
    file_sha256,
    uri_exists,
    verify_tree,
)
from mlnb.store.database import Database
from mlnb.store.jobs_tx import JobsTx
from mlnb.store.operations_tx import OperationsTx
from mlnb.store.registry_tx import RegistryTx

__all__ = [
    "ArtifactStore",
    "Database",
    "JobsTx",
    "OperationsTx",
    "RegistryTx",
    "StoredTree",
    "file_sha256",
    "uri_exists",
    "verify_tree",
]
