"""Reading MLflow model folders (an ``MLmodel`` file with flavors), so that
models saved with MLflow deploy without MLflow installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlnb.frameworks.base import ModelLoadError


def mlflow_flavors(model_dir: Path) -> dict[str, dict[str, Any]]:
    """The flavors of an MLflow model folder, or ``{}`` when it is not one."""
    path = model_dir / "MLmodel"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ModelLoadError(f"The MLflow file {path.name} is not valid YAML: {e}") from e
    flavors = data.get("flavors") if isinstance(data, dict) else None
    return flavors if isinstance(flavors, dict) else {}


def flavor_file(model_dir: Path, flavor: dict[str, Any], key: str) -> Path:
    """The file a flavor names under ``key``, kept inside ``model_dir``.

    Raises:
        ModelLoadError: The key is missing, or the path leaves the folder.
    """
    relative = flavor.get(key)
    if not isinstance(relative, str):
        raise ModelLoadError(f"The MLflow flavor has no '{key}' entry")
    path = (model_dir / relative).resolve()
    if not path.is_relative_to(model_dir.resolve()):
        raise ModelLoadError(f"The MLflow flavor's '{key}' points outside the model folder")
    return path
