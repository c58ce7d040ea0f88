"""Trainer packages: a package folder becomes an sdist, cached by content
hash (installing it is ``mlnb.runtime.environments``' part)."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import sys
import tarfile
import uuid
from pathlib import Path

from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.runtime.environments import BUILT_MARKER, last_lines, run_first_success

_SKIP = {"__pycache__", ".git", ".ipynb_checkpoints", "build", "dist", ".venv", ".mypy_cache"}
_VERSION = "0.0.0"


def tree_digest(root: Path, skip: set[str] = _SKIP) -> str:
    """SHA-256 over the relative paths and bytes of every file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(_files(root, skip)):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _files(root: Path, skip: set[str]) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if any(part in skip or part.endswith(".egg-info") for part in parts):
            continue
        if path.is_file():
            found.append(path)
    return found


def build_trainer_package(package_path: Path, cache_dir: Path) -> Path:
    """The sdist of a trainer package folder (``trainer/`` holding
    ``__init__.py``), built from its parent with the parent's ``setup.py`` or
    ``pyproject.toml`` where there is one, else with a built-in recipe.
    Unchanged sources are not rebuilt.

    Raises:
        InvalidArgument: The folder is missing or not a package.
        FailedPrecondition: Building failed; the message has the builder's error.
    """
    package_path = package_path.resolve()
    if not package_path.is_dir():
        raise InvalidArgument(
            f"The trainer package {str(package_path)!r} is not a folder", field="package_path"
        )
    if not (package_path / "__init__.py").is_file():
        raise InvalidArgument(
            f"--package-path {str(package_path)!r} has no __init__.py: name the package folder "
            "itself (for example trainer/), as gcloud does"
        )
    parent = package_path.parent
    has_setup = (parent / "setup.py").is_file() or (parent / "pyproject.toml").is_file()
    source = parent if has_setup else package_path
    # The folder's name is part of what is built (the package's import
    # name): two packages of the same files under different names are two.
    key = hashlib.sha256(f"{source.name}\0{tree_digest(source)}".encode()).hexdigest()[:32]
    target = cache_dir / key
    built = sorted(target.glob("*.tar.gz")) if target.is_dir() else []
    if built:
        return built[0]
    partial = cache_dir / f"{key}.{uuid.uuid4().hex}.partial"
    partial.mkdir(parents=True)
    try:
        if has_setup:
            _build_with_project(parent, partial)
        else:
            _build_builtin(package_path, partial)
        try:
            partial.rename(target)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)  # built at the same time elsewhere
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return sorted(target.glob("*.tar.gz"))[0]


def _build_builtin(package_path: Path, out: Path) -> None:
    name = package_path.name
    if not name.isidentifier():
        raise InvalidArgument(f"The package folder name {name!r} is not a Python identifier")
    distribution = re.sub(r"[^A-Za-z0-9.]+", "_", name)
    root = f"{distribution}-{_VERSION}"
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{distribution}"\nversion = "{_VERSION}"\n\n'
        f'[tool.setuptools]\npackages.find.include = ["{name}", "{name}.*"]\n'
    )
    metadata = f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {_VERSION}\n"
    with tarfile.open(out / f"{root}.tar.gz", "w:gz") as archive:
        for member, text in (("PKG-INFO", metadata), ("pyproject.toml", pyproject), (BUILT_MARKER, name)):
            _add_text(archive, f"{root}/{member}", text)
        for path in sorted(_files(package_path, _SKIP)):
            info = archive.gettarinfo(str(path), f"{root}/{name}/{path.relative_to(package_path)}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(path, "rb") as f:
                archive.addfile(info, f)


def _add_text(archive: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    archive.addfile(info, io.BytesIO(data))


def _build_with_project(parent: Path, out: Path) -> None:
    command = [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(parent)]
    # The build backend installed with mlnb first (no download); an isolated
    # build environment only when the project needs another backend.
    done = run_first_success([[*command, "--no-isolation"], command])
    if done.returncode != 0 or not list(out.glob("*.tar.gz")):
        raise FailedPrecondition(f"Building the trainer package in {parent} failed:\n{last_lines(done)}")
