"""The artifact store: model files kept through fsspec.

The root is a local folder by default, or any fsspec URL (``memory://``,
``s3://``...). Files are copied in with their SHA-256, so that a later change
at the origin, or in the store, is noticed before anything is loaded.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec import AbstractFileSystem

from mlnb.errors import FailedPrecondition, InvalidArgument

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredTree:
    """Files copied into the artifact store.

    Attributes:
        uri: Where the copy lives (a folder path or fsspec URL).
        files: Relative path to SHA-256 hex digest, for every file.
    """

    uri: str
    files: dict[str, str]


def _filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise InvalidArgument(f"Cannot open {url!r}: {e}") from e
    return fs, path


def uri_exists(uri: str) -> bool:
    """Whether a local path or fsspec URL exists.

    Raises:
        InvalidArgument: The URL's scheme is unknown or its library missing.
    """
    fs, path = _filesystem(uri)
    return bool(fs.exists(path))


def list_files(uri: str) -> list[str]:
    """The files at a local path or fsspec URL: the file itself, or every
    file under the folder (none when nothing is there)."""
    fs, path = _filesystem(uri)
    if not fs.exists(path):
        return []
    return [str(p) for p in fs.find(path)] if fs.isdir(path) else [path]


def local_copy(uri: str, folder: Path) -> Path:
    """A local file holding the file at ``uri``: the path itself when it is
    local, else a download into ``folder`` (kept: a second call for the
    same URL reuses it).

    Raises:
        InvalidArgument: Nothing is at ``uri``, or its scheme is unknown.
    """
    fs, path = _filesystem(uri)
    if _is_local(fs):
        return Path(path)
    target = folder / hashlib.sha256(uri.encode()).hexdigest()[:16] / posixpath.basename(path)
    if target.is_file():
        return target
    if not fs.exists(path):
        raise InvalidArgument(f"{uri!r} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    fs.get_file(path, str(partial))
    os.replace(partial, target)
    return target


def _is_local(fs: AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


class ArtifactStore:
    """Copies trees in, hands out local folders to load from, deletes trees."""

    def __init__(self, root: str, cache_dir: Path) -> None:
        self.root = root
        self.cache_dir = cache_dir
        self._fs, self._root_path = _filesystem(root)

    def location(self, *parts: str) -> str:
        """Where ``parts`` (a relative path) lives in the store: a local path
        or a URL, for a file that a job writes there later."""
        return self._uri(posixpath.join(self._root_path, *parts))

    def import_tree(self, origin: str, prefix: str, folder: str | None = None) -> StoredTree:
        """Copy the file or folder at ``origin`` to ``prefix/folder`` (a new
        folder of a random name by default).

        Raises:
            InvalidArgument: ``origin`` does not exist or holds no file.
        """
        source_fs, source_path = _filesystem(origin)
        if not source_fs.exists(source_path):
            raise InvalidArgument(f"The origin {origin!r} does not exist")
        if source_fs.isdir(source_path):
            sources = {
                posixpath.relpath(path, source_path.rstrip("/")): path
                for path in source_fs.find(source_path)
                if "__pycache__" not in path.split("/")
            }
        else:
            sources = {posixpath.basename(source_path): source_path}
        if not sources:
            raise InvalidArgument(f"The origin {origin!r} is an empty folder")
        target = posixpath.join(self._root_path, prefix, folder or uuid.uuid4().hex)
        files = {}
        try:
            for relative, path in sorted(sources.items()):
                files[relative] = self._copy_file(source_fs, path, posixpath.join(target, relative))
        except BaseException:
            self.delete_tree(self._uri(target))
            raise
        return StoredTree(uri=self._uri(target), files=files)

    def _copy_file(self, source_fs: AbstractFileSystem, source: str, target: str) -> str:
        digest = hashlib.sha256()
        self._fs.makedirs(posixpath.dirname(target), exist_ok=True)
        with (
            source_fs.open(source, "rb") as reader,
            self._fs.open(target, "wb") as writer,
        ):
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
        return digest.hexdigest()

    def _uri(self, path: str) -> str:
        if _is_local(self._fs):
            return path
        return str(self._fs.unstrip_protocol(path))

    def local_dir(self, uri: str, files: dict[str, str]) -> Path:
        """A local folder holding the tree at ``uri``, downloaded if remote,
        with every file's checksum verified.

        Raises:
            FailedPrecondition: A file is missing or changed since it was stored.
        """
        fs, path = _filesystem(uri)
        local = self._local_path(uri)
        if not _is_local(fs) and not (local / ".complete").exists():
            self._download(fs, path, local, files)
        verify_tree(local, files, uri)
        return local

    def tree_bytes(self, uri: str, files: dict[str, str]) -> int:
        """The size of a stored tree's files where ``local_dir`` puts them
        (0 for files not there)."""
        local = self._local_path(uri)
        sizes = ((local / relative) for relative in files)
        return sum(p.stat().st_size for p in sizes if p.is_file())

    def _local_path(self, uri: str) -> Path:
        fs, path = _filesystem(uri)
        if _is_local(fs):
            return Path(path)
        return self.cache_dir / hashlib.sha256(uri.encode()).hexdigest()[:24]

    def _download(self, fs: AbstractFileSystem, path: str, local: Path, files: dict[str, str]) -> None:
        partial = local.with_name(local.name + f".{uuid.uuid4().hex}.partial")
        for relative in files:
            destination = partial / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(posixpath.join(path, relative), str(destination))
        (partial / ".complete").touch()
        try:
            os.replace(partial, local)
        except OSError:
            # Another process finished the same download first.
            shutil.rmtree(partial, ignore_errors=True)

    def folders(self, pattern: str) -> list[str]:
        """The URIs of the folders whose relative paths match the glob
        ``pattern`` (``projects/*/models``)."""
        found = self._fs.glob(posixpath.join(self._root_path, pattern))
        return sorted(self._uri(path) for path in found if self._fs.isdir(path))

    def relative(self, uri: str) -> str:
        """The path of ``uri`` inside the store."""
        _, path = _filesystem(uri)
        return posixpath.relpath(path, self._root_path)

    def delete_tree(self, uri: str | None) -> None:
        """Remove a stored tree; a missing one is not an error."""
        if not uri:
            return
        fs, path = _filesystem(uri)
        if fs.exists(path):
            fs.rm(path, recursive=True)
        cached = self.cache_dir / hashlib.sha256(uri.encode()).hexdigest()[:24]
        shutil.rmtree(cached, ignore_errors=True)


def verify_tree(local: Path, files: dict[str, str], uri: str) -> None:
    """Check that every file under ``local`` still has its recorded SHA-256.

    Raises:
        FailedPrecondition: Naming the files that are missing or changed.
    """
    changed = []
    for relative, expected in files.items():
        path = local / relative
        if not path.is_file() or file_sha256(path) != expected:
            changed.append(relative)
    if changed:
        raise FailedPrecondition(
            f"Refusing to load {uri}: file(s) {', '.join(sorted(changed))} changed or "
            "disappeared since the version was created. Create a new version from a "
            "trusted origin instead."
        )


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
