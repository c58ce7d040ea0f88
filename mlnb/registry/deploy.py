"""Deploying a version: copy its files into the artifact store, find its
framework, load it once to prove it works, and end READY or FAILED; and
what is left when a creation dies half-way: its version is taken for
abandoned once its lease runs out, and its files are found and removed."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import posixpath
import uuid
from collections.abc import Callable
from pathlib import Path

from mlnb.errors import InvalidArgument, MlnbError, NotFound
from mlnb.frameworks import (
    AdapterRegistry,
    FrameworkAdapter,
    Predictor,
    normalize_framework,
)
from mlnb.naming import validate_python_version
from mlnb.prediction.stored import load_stored_version
from mlnb.records import StoreCheck, VersionRecord
from mlnb.registry.models import ModelRegistry, VersionSpec
from mlnb.registry.serving import check_batching, check_scaling
from mlnb.runtime.periodic import repeating
from mlnb.states import VersionState
from mlnb.store import ArtifactStore, StoredTree, list_files, uri_exists

__all__ = ["CANCELLED_MESSAGE", "VersionDeployer"]

CANCELLED_MESSAGE = "Version creation was cancelled"
# Files whose loading runs code that they carry: pickles (joblib, MLflow's
# cloudpickle among them) and Keras HDF5 files (Lambda layers hold bytecode).
_CODE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".dill", ".cloudpickle", ".sav", ".h5", ".hdf5"})

log = logging.getLogger(__name__)


class VersionDeployer:
    """Creates versions from their origin and loads them for prediction.

    Args:
        lease_s: A creation's lease: a CREATING version whose creator has
            not renewed it for this long is taken for abandoned (0: never).
        renew_every_s: How often a creator renews its lease.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        artifacts: ArtifactStore,
        adapters: AdapterRegistry,
        skops_trusted_types: tuple[str, ...] = (),
        lease_s: float = 0.0,
        renew_every_s: float = 2.0,
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.adapters = adapters
        self.skops_trusted_types = skops_trusted_types
        self.lease_s = lease_s
        self.renew_every_s = renew_every_s

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
        # Where its files go is recorded before they are copied: whoever
        # removes the version, even half-made, finds them.
        location = self.artifacts.location(_prefix(project, model, spec.name), uuid.uuid4().hex)
        record = self.registry.reserve_version(project, model, spec, actor, self.lease_s, location)
        return record, spec

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
        with self._renewing(record):
            done, stored = self._deploy(record, spec, actor, cancelled)
        if done.state != VersionState.READY:
            self._remove(stored)  # it was taken for abandoned meanwhile: its copies go
        return done

    def _deploy(
        self, record: VersionRecord, spec: VersionSpec, actor: str, cancelled: Callable[[], bool]
    ) -> tuple[VersionRecord, list[StoredTree]]:
        project, model = record.project, record.model
        stored: list[StoredTree] = []
        try:
            prefix = _prefix(project, model, spec.name)
            folder = posixpath.basename(record.artifact_uri) if record.artifact_uri else None
            tree = self.artifacts.import_tree(spec.origin, prefix, folder)
            stored.append(tree)
            packages_prefix = f"{prefix}/{folder}.packages" if folder else f"{prefix}/packages"
            packages = [self.artifacts.import_tree(uri, packages_prefix) for uri in spec.package_uris]
            stored.extend(packages)
            if cancelled():
                return self._fail(record, actor, stored, CANCELLED_MESSAGE), []
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
                return self._fail(record, actor, stored, CANCELLED_MESSAGE), []
        except MlnbError as e:  # ModelLoadError and MissingExtra among them
            return self._fail(record, actor, stored, _message(e)), []
        except Exception as e:  # the model's own loading code can raise anything
            message = f"Loading the model failed: {type(e).__name__}: {e}"
            return self._fail(record, actor, stored, message), []
        try:
            done = self.registry.finish_version(
                record,
                actor,
                framework=candidate.framework,
                artifact_uri=candidate.artifact_uri,
                files=candidate.files,
                packages=list(candidate.packages),
            )
        except NotFound:
            self._remove(stored)  # deleted while it was being made
            raise
        return done, stored

    def _renewing(self, record: VersionRecord) -> contextlib.AbstractContextManager[None]:
        """Renew the creation's lease from a thread while the block runs."""
        if self.lease_s <= 0:
            return contextlib.nullcontext()

        def renew() -> bool:
            try:
                return self.registry.renew_creation(record, self.lease_s)
            except MlnbError as e:  # a database hiccup: the next renewal may pass
                log.warning("Could not renew the creation of %s: %s", record.resource_name, e)
                return True

        return repeating(self.renew_every_s, renew, f"renew-{record.name}")

    def runs_code(
        self, origin: str, package_uris: tuple[str, ...] = (), prediction_class: str | None = None
    ) -> str | None:
        """Why loading a model from ``origin`` would run code that came with
        it (a pickle, a Keras HDF5 file, a custom prediction routine), or
        ``None`` (SavedModels, skops, XGBoost and Keras files)."""
        if prediction_class or package_uris:
            return "a custom prediction routine is code"
        for path in list_files(origin):
            if posixpath.splitext(path)[1].lower() in _CODE_SUFFIXES:
                return f"{posixpath.basename(path)!r} is a pickle or holds code, which loading runs"
        return None

    def reap(self, actor: str) -> list[VersionRecord]:
        """Record as FAILED every version whose creation died half-way (its
        lease ran out) and remove its files; the versions so ended."""
        reaped = []
        for version in self.registry.abandoned_versions():
            if self.registry.abandon_version(version, actor):
                self.delete_files(version)
                reaped.append(version)
        return reaped

    def check_store(self, repair: bool = False) -> StoreCheck:
        """Versions whose creation died half-way (``reap`` ends them), and
        version folders of the artifact store that no version owns (left by
        a process killed between copying and recording, or by an older
        mlnb); with ``repair``, those folders are removed."""
        abandoned = self.registry.abandoned_versions()
        owned: set[str] = set()
        skip: set[str] = set()  # a creation at work that recorded no location: all its folders are its
        for version in self.registry.all_versions():
            name = _prefix(version.project, version.model, version.name)
            if version.artifact_uri is None:
                skip.add(name)
                continue
            own = self.artifacts.relative(version.artifact_uri)
            owned |= {own, f"{own}.packages"}
            owned |= {posixpath.dirname(self.artifacts.relative(p["uri"])) for p in version.packages}
        orphans = [
            uri
            for uri in self.artifacts.folders("projects/*/models/*/versions/*/*")
            if (relative := self.artifacts.relative(uri)) not in owned
            and posixpath.dirname(relative) not in skip
        ]
        if repair:
            for uri in orphans:
                self.artifacts.delete_tree(uri)
        return StoreCheck(abandoned, orphans)

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
        validate_python_version(spec.python_version)
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
        """Remove a deleted version's stored files, whatever its state (a
        half-made version's partial copy too)."""
        trees = [version.artifact_uri, *(p["uri"] for p in version.packages)]
        if version.artifact_uri:
            trees.append(f"{version.artifact_uri}.packages")
        for uri in trees:
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
        self._remove(stored)
        return self.registry.finish_version(record, actor, error=message)

    def _remove(self, stored: list[StoredTree]) -> None:
        for tree in stored:
            self.artifacts.delete_tree(tree.uri)


def _prefix(project: str, model: str, version: str) -> str:
    """The artifact store folder of a version's copies."""
    return f"projects/{project}/models/{model}/versions/{version}"


def _message(error: BaseException) -> str:
    if isinstance(error, MlnbError):
        return error.message
    return str(error)
