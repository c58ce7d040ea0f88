"""Loading a version's stored files into a Predictor, for the processes
that serve it: the Engine's own (through ``VersionDeployer``) and batch
prediction workers, which have no database."""

from __future__ import annotations

from pathlib import Path

from mlnb.errors import InvalidArgument
from mlnb.frameworks import AdapterRegistry, LoadOptions, Predictor
from mlnb.records import VersionRecord
from mlnb.store.artifacts import ArtifactStore

__all__ = ["load_stored_version"]


def load_stored_version(
    artifacts: ArtifactStore,
    adapters: AdapterRegistry,
    version: VersionRecord,
    skops_trusted_types: tuple[str, ...] = (),
) -> Predictor:
    """Load a version's stored files (checksums verified) into a Predictor.

    Raises:
        FailedPrecondition: A file changed since the version was created.
        ModelLoadError, MissingExtra: The model cannot be loaded.
    """
    if version.artifact_uri is None or version.framework is None:
        raise InvalidArgument(f"Version {version.name!r} has no stored files")
    local = artifacts.local_dir(version.artifact_uri, version.files)
    packages = tuple(artifacts.local_dir(p["uri"], p["files"]) for p in version.packages)
    options = LoadOptions(
        prediction_class=version.prediction_class,
        package_dirs=tuple(_single_file_or_dir(p) for p in packages),
        skops_trusted_types=skops_trusted_types,
    )
    return adapters.get(version.framework).load(local, options)


def _single_file_or_dir(local: Path) -> Path:
    # A package URI that was one file (a wheel, an sdist) is stored as a
    # folder holding that file: hand the adapter the file itself.
    entries = [p for p in local.iterdir() if p.name != ".complete"]
    return entries[0] if len(entries) == 1 and entries[0].is_file() else local
