"""The model of a batch prediction job, described so that a worker process
(here or on a Dask worker) loads it with no database: a deployed version's
stored files, or a model folder that was never deployed (``uri``)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlnb.config import Settings
from mlnb.errors import FailedPrecondition
from mlnb.frameworks import AdapterRegistry, LoadOptions, Predictor
from mlnb.prediction.stored import load_stored_version
from mlnb.records import VersionRecord
from mlnb.states import VersionState
from mlnb.store.artifacts import ArtifactStore

__all__ = ["load_model", "uri_model", "version_model"]


def version_model(version: VersionRecord, settings: Settings) -> dict[str, Any]:
    """What a worker needs to load a READY version."""
    return {
        "kind": "version",
        "name": version.resource_name,
        "framework": version.framework,
        "artifactUri": version.artifact_uri,
        "files": version.files,
        "packages": list(version.packages),
        "predictionClass": version.prediction_class,
        "explanationConfig": version.explanation_config,
        **_caches(settings),
    }


def uri_model(uri: str, framework: str | None, settings: Settings) -> dict[str, Any]:
    """What a worker needs to load a model folder (a path or fsspec URL)."""
    return {"kind": "uri", "uri": uri, "framework": framework, **_caches(settings)}


def _caches(settings: Settings) -> dict[str, Any]:
    # No cache folders: those are the home of whichever process loads the
    # model (a worker on a Dask worker has its own), not the submitter's.
    return {
        "artifactRoot": settings.artifact_root,
        "skopsTrustedTypes": [t.strip() for t in settings.skops_trusted_types.split(",") if t.strip()],
    }


def load_model(spec: dict[str, Any]) -> Predictor:
    """Load the model a spec describes, caching its files in this
    process's mlnb home (``MLNB_HOME``, as on the job host, or a Dask
    worker's own).

    Raises:
        FailedPrecondition: The folder is gone, or a stored file changed.
        ModelLoadError, MissingExtra: The model cannot be loaded.
    """
    here = Settings.resolve().paths  # this process's home: its caches
    adapters = AdapterRegistry(here.package_cache)
    if spec["kind"] == "version":
        artifacts = ArtifactStore(spec["artifactRoot"], here.artifact_cache)
        record = VersionRecord(
            project="",
            model="",
            name=spec["name"],
            state=VersionState.READY,
            framework=spec["framework"],
            deployment_uri="",
            create_time=datetime.now(UTC),
            artifact_uri=spec["artifactUri"],
            files=spec["files"],
            packages=tuple(spec["packages"]),
            prediction_class=spec["predictionClass"],
        )
        return load_stored_version(artifacts, adapters, record, tuple(spec["skopsTrustedTypes"]))
    local = _local_folder(spec["uri"])
    adapter = adapters.get(spec["framework"]) if spec.get("framework") else adapters.detect(local)
    return adapter.load(local, LoadOptions(skops_trusted_types=tuple(spec["skopsTrustedTypes"])))


def _local_folder(uri: str) -> Path:
    if "://" not in uri:
        path = Path(uri)
        if not path.exists():
            raise FailedPrecondition(f"The model folder {uri!r} does not exist")
        return path
    import fsspec

    fs, root = fsspec.core.url_to_fs(uri)
    if not fs.exists(root):
        raise FailedPrecondition(f"The model folder {uri!r} does not exist")
    local = Path(tempfile.mkdtemp(prefix="mlnb-model-"))
    fs.get(root.rstrip("/") + "/", str(local), recursive=True)
    return local
