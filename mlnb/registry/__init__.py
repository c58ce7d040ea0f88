"""The model registry: models and versions named and ruled as in ML Engine,
their deployment, and their history."""

from __future__ import annotations

from mlnb.naming import (
    parse_resource,
    validate_labels,
    validate_name,
)
from mlnb.registry.deploy import CANCELLED_MESSAGE, VersionDeployer
from mlnb.registry.models import ModelRegistry, VersionSpec
from mlnb.registry.operations import OperationService
from mlnb.registry.serving import nodes_kept_loaded

__all__ = [
    "CANCELLED_MESSAGE",
    "ModelRegistry",
    "OperationService",
    "VersionDeployer",
    "VersionSpec",
    "nodes_kept_loaded",
    "parse_resource",
    "validate_labels",
    "validate_name",
]
