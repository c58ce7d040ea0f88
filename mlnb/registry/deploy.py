"""Deploying a version: copy its files into the artifact store, find its
framework, load it once to prove it works, and end READY or FAILED."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from mlnb.errors import InvalidArgument, MlnbError
from mlnb.frameworks import (
    AdapterRegistry,
    FrameworkAdapter,
    Predictor,
    normalize_framework,
)
from mlnb.prediction.stored import load_stored_version
from mlnb.records import VersionRecord
from mlnb.registry.models import ModelRegistry, VersionSpec
from mlnb.registry.serving import check_batching, check_scaling
from mlnb.store import ArtifactStore, StoredTree, uri_exists

__all__ = ["CANCELLED_MESSAGE", "VersionDeployer"]

CANCELLED_MESSAGE = "Version creation was cancelled"

log = logging.getLogger(__name__)


class VersionDeployer:
    """Creates versions from their origin and loads them for prediction."""

    def __init__(
        self,
        registry: ModelRegistry,
        artifacts: ArtifactStore,
        adapters: AdapterRegistry,
        skops_trusted_types: tuple[str, ...] = (),
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.adapters = adapters
        self.skops_trusted_types = skops_trusted_types

    def create_version(self, project: str, model: str, spec: VersionSpec, actor: str) -> VersionRecord:
        """Create a version and deploy it; returns it READY or FAILED.

        A version that cannot be loaded (no model file, wrong framework, a
        corrupt file, a missing extra) ends FAILED with the reason in its
        ``error_message``; nothing else in the registry changes.

        Raises:
            InvalidArgument: A bad spec or an origin that does not exist
                (nothing is recorded).
            NotFound, AlreadyExists, ResourceExhausted: From the registry rules.
        """
        record, spec = self.begin_version(project, model, spec, actor)
        return self.complete_version(record, spec, actor)

    def begin_version(
        self, project: str, model: str, spec: VersionSpec, actor: str
    ) -> tuple[VersionRecord, VersionSpec]:
        """Check a spec and record its version CREATING; ``complete_version``
        does the rest (the REST server runs it behind an operation).

        Raises:
            InvalidArgument, NotFound, AlreadyExists, ResourceExhausted: As
                ``create_version``.
        """
        spec = self._checked(spec)
        return self.registry.reserve_version(project, model, spec, actor), spec

    def complete_version(
        self,
        record: VersionRecord,
        spec: VersionSpec,
        actor: str,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> VersionRecord:
        """Copy, detect and load a CREATING version; it ends READY or FAILED.

        ``cancelled`` is asked between the steps (after the copy, after the
        load): when it says yes the version ends FAILED as cancelled, its
        files removed.
        """
        project, model = record.project, record.model
        stored: list[StoredTree] = []
        try:
            prefix = f"projects/{project}/models/{model}/versions/{spec.name}"
            tree = self.artifacts.import_tree(spec.origin, prefix)
            stored.append(tree)
            packages = [self.artifacts.import_tree(uri, f"{prefix}/packages") for uri in spec.package_uris]
            stored.extend(packages)
            if cancelled():
                return self._fail(record, actor, stored, CANCELLED_MESSAGE)
            adapter = self._adapter(spec, self.artifacts.local_dir(tree.uri, tree.files))
            candidate = dataclasses.replace(
                record,
                framework=adapter.name,
                artifact_uri=tree.uri,
                files=tree.files,
                packages=tuple({"uri": p.uri, "files": p.files} for p in packages),
            )
            self.load_predictor(candidate)
            if cancelled():
                return self._fail(record, actor, stored, CANCELLED_MESSAGE)
        except MlnbError as e:  # ModelLoadError and MissingExtra among them
            return self._fail(record, actor, stored, _message(e))
        except Exception as e:  # the model's own loading code can raise anything
            return self._fail(
                record,
                actor,
                stored,
                f"Loading the model failed: {type(e).__name__}: {e}",
            )
        return self.registry.finish_version(
            record,
            actor,
            framework=candidate.framework,
            artifact_uri=candidate.artifact_uri,
            files=candidate.files,
            packages=list(candidate.packages),
        )

    def _checked(self, spec: VersionSpec) -> VersionSpec:
        framework = spec.framework
        if spec.prediction_class:
            if framework and normalize_framework(framework) not in (
                "CUSTOM",
                "FRAMEWORK_UNSPECIFIED",
            ):
                raise InvalidArgument(
                    f"predictionClass is for custom prediction routines; leave framework "
                    f"unset instead of {framework!r}"
                )
            framework = "CUSTOM"
        elif framework and normalize_framework(framework) != "FRAMEWORK_UNSPECIFIED":
            framework = self.adapters.get(framework).name
        else:
            framework = None
        check_scaling(spec.manual_scaling, spec.auto_scaling)
        check_batching(spec.batching)
        if not spec.origin:
            raise InvalidArgument("A version needs an origin (deploymentUri): the folder of model files")
        for uri in (spec.origin, *spec.package_uris):
            if not uri_exists(uri):
                raise InvalidArgument(f"{uri!r} does not exist")
        return dataclasses.replace(spec, framework=framework)

    def _adapter(self, spec: VersionSpec, local: Path) -> FrameworkAdapter:
        # A named framework is trusted to know its own files: its load()
        # says what it expected when they are not there.
        if spec.framework:
            return self.adapters.get(spec.framework)
        return self.adapters.detect(local)

    def load_predictor(self, version: VersionRecord) -> Predictor:
        """Load a version's files, checksums verified, into a Predictor.

        Raises:
            FailedPrecondition: A file changed since the version was created.
            ModelLoadError, MissingExtra: The model cannot be loaded.
        """
        return load_stored_version(self.artifacts, self.adapters, version, self.skops_trusted_types)

    def stored_bytes(self, version: VersionRecord) -> int:
        """The size of a loaded version's files: the measure of its memory
        that bounds how many versions stay loaded."""
        trees = [(version.artifact_uri, version.files), *((p["uri"], p["files"]) for p in version.packages)]
        return sum(self.artifacts.tree_bytes(uri, files) for uri, files in trees if uri)

    def delete_files(self, version: VersionRecord) -> None:
        """Remove a deleted version's stored files."""
        for uri in [version.artifact_uri, *(p["uri"] for p in version.packages)]:
            try:
                self.artifacts.delete_tree(uri)
            except OSError as e:
                log.warning(
                    "Could not remove %s of deleted version %s: %s",
                    uri,
                    version.name,
                    e,
                )

    def _fail(
        self, record: VersionRecord, actor: str, stored: list[StoredTree], message: str
    ) -> VersionRecord:
        for tree in stored:
            self.artifacts.delete_tree(tree.uri)
        return self.registry.finish_version(record, actor, error=message)


def _message(error: BaseException) -> str:
    if isinstance(error, MlnbError):
        return error.message
    return str(error)
