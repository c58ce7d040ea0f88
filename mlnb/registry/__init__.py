"""The model registry: models and versions named and ruled as in ML Engine,
their deployment, and their history."""

from __future__ import annotations

from mlnb.naming import (
    parse_resource,
    validate_labels,
    validate_name,
)
from mlnb.registry.deploy import VersionDeployer
from mlnb.registry.models import ModelRegistry, VersionSpec
from mlnb.registry.operations import OperationService

__all__ = [
    "ModelRegistry",
    "OperationService",
    "VersionDeployer",
    "VersionSpec",
    "parse_resource",
    "validate_labels",
    "validate_name",
]
