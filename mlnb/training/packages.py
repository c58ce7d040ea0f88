"""Trainer packages: a package folder becomes an sdist (cached by content
hash), archives are unpacked safely, and each set of packages gets an
environment of its own that sees mlnb's environment underneath."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import uuid
import venv
import zipfile
from collections.abc import Sequence
from pathlib import Path

from mlnb.errors import FailedPrecondition, InvalidArgument

_SKIP = {"__pycache__", ".git", ".ipynb_checkpoints", "build", "dist", ".venv", ".mypy_cache"}
_BUILT_MARKER = "MLNB-BUILT"
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
        raise InvalidArgument(f"--package-path {str(package_path)!r} is not a folder")
    if not (package_path / "__init__.py").is_file():
        raise InvalidArgument(
            f"--package-path {str(package_path)!r} has no __init__.py: name the package folder "
            "itself (for example trainer/), as gcloud does"
        )
    parent = package_path.parent
    has_setup = (parent / "setup.py").is_file() or (parent / "pyproject.toml").is_file()
    source = parent if has_setup else package_path
    key = tree_digest(source)[:32]
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
        for member, text in (("PKG-INFO", metadata), ("pyproject.toml", pyproject), (_BUILT_MARKER, name)):
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
    done = _run_first_success([[*command, "--no-isolation"], command])
    if done.returncode != 0 or not list(out.glob("*.tar.gz")):
        raise FailedPrecondition(f"Building the trainer package in {parent} failed:\n{_last_lines(done)}")


def _run_first_success(commands: Sequence[Sequence[str]]) -> subprocess.CompletedProcess[str]:
    done = None
    for command in commands:
        done = subprocess.run(list(command), capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
    if done is None:
        raise ValueError("no command to run")
    return done


def _last_lines(done: subprocess.CompletedProcess[str], count: int = 15) -> str:
    return "\n".join((done.stderr or done.stdout).strip().splitlines()[-count:])


def safe_extract(archive: Path, target: Path) -> None:
    """Unpack a tar or zip archive under ``target``, refusing absolute paths,
    ``..``, and links that lead outside it.

    Raises:
        InvalidArgument: The archive holds such a member, or is not an archive.
    """
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                _check_member(archive, name, target)
            zipped.extractall(target)  # noqa: S202 - every member checked above
        return
    if not tarfile.is_tarfile(archive):
        raise InvalidArgument(f"{archive.name} is neither a tar nor a zip archive")
    with tarfile.open(archive) as tarred:
        for member in tarred.getmembers():
            _check_member(archive, member.name, target)
            if member.issym() or member.islnk():
                _check_member(archive, os.path.join(os.path.dirname(member.name), member.linkname), target)
        try:
            tarred.extractall(target, filter="data")
        except tarfile.FilterError as e:
            raise InvalidArgument(f"Refusing to unpack {archive.name}: {e}") from e


def _check_member(archive: Path, name: str, target: Path) -> None:
    resolved = (target / name).resolve()
    if os.path.isabs(name) or not resolved.is_relative_to(target.resolve()):
        raise InvalidArgument(
            f"Refusing to unpack {archive.name}: member {name!r} would land outside the folder"
        )


def prepare_environment(archives: Sequence[Path], envs_dir: Path) -> Path:
    """A Python with ``archives`` installed (their dependencies too) over
    mlnb's own environment; cached by the archives' content. Returns its
    interpreter.

    Raises:
        FailedPrecondition: Installing failed; the message has pip's error.
    """
    digest = hashlib.sha256(sys.prefix.encode())
    for archive in archives:
        digest.update(hashlib.sha256(archive.read_bytes()).digest())
    final = envs_dir / digest.hexdigest()[:32]
    if (final / ".complete").exists():
        return _python(final)
    envs_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=envs_dir))
    try:
        venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(partial)
        site = _site_packages(partial)
        # Underneath: mlnb's own packages, with their .pth files processed.
        lines = [f"import site; site.addsitedir({p!r})" for p in _base_site_dirs()]
        (site / "_mlnb_base.pth").write_text("\n".join(lines) + "\n")
        for archive in archives:
            _install(archive, partial, site)
        (partial / ".complete").touch()
        try:
            partial.rename(final)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _python(final)


def _install(archive: Path, env: Path, site: Path) -> None:
    if _is_builtin_sdist(archive):
        # A plain package with no dependencies: copying it is installing it.
        with tempfile.TemporaryDirectory() as tmp:
            safe_extract(archive, Path(tmp))
            (root,) = Path(tmp).iterdir()
            name = (root / _BUILT_MARKER).read_text().strip()
            shutil.copytree(root / name, site / name)
        return
    command = [sys.executable, "-m", "pip", "--python", str(_python(env)), "install", "--quiet", str(archive)]
    done = _run_first_success([[*command, "--no-build-isolation"], command])
    if done.returncode != 0:
        raise FailedPrecondition(f"Installing {archive.name} failed:\n{_last_lines(done)}")


def _is_builtin_sdist(archive: Path) -> bool:
    if not archive.name.endswith(".tar.gz") or not tarfile.is_tarfile(archive):
        return False
    with tarfile.open(archive) as tarred:
        return any(
            m.name.count("/") == 1 and m.name.endswith("/" + _BUILT_MARKER) for m in tarred.getmembers()
        )


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def _site_packages(env: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return env / "lib" / version / "site-packages"


def _base_site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))
