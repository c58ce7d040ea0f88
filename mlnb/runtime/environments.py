"""Trainer environments: each set of package archives gets a Python of its
own, cached by the archives' content, that sees mlnb's environment
underneath; archives are unpacked safely. Used on the job host and, for a
job on a Dask cluster, on each worker."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import venv
import zipfile
from collections.abc import Sequence
from pathlib import Path

from mlnb.errors import FailedPrecondition, InvalidArgument

__all__ = ["BUILT_MARKER", "last_lines", "prepare_environment", "run_first_success", "safe_extract"]

# The file that marks an sdist built by mlnb's own recipe (a plain package
# with no dependencies, installed by copying); it holds the package's name.
BUILT_MARKER = "MLNB-BUILT"


def run_first_success(commands: Sequence[Sequence[str]]) -> subprocess.CompletedProcess[str]:
    """Run each command until one succeeds; the last one run's result."""
    done = None
    for command in commands:
        done = subprocess.run(list(command), capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
    if done is None:
        raise ValueError("no command to run")
    return done


def last_lines(done: subprocess.CompletedProcess[str], count: int = 15) -> str:
    """The end of a failed command's error output, for a message."""
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
            name = (root / BUILT_MARKER).read_text().strip()
            shutil.copytree(root / name, site / name)
        return
    command = [sys.executable, "-m", "pip", "--python", str(_python(env)), "install", "--quiet", str(archive)]
    done = run_first_success([[*command, "--no-build-isolation"], command])
    if done.returncode != 0:
        raise FailedPrecondition(f"Installing {archive.name} failed:\n{last_lines(done)}")


def _is_builtin_sdist(archive: Path) -> bool:
    if not archive.name.endswith(".tar.gz") or not tarfile.is_tarfile(archive):
        return False
    with tarfile.open(archive) as tarred:
        return any(
            m.name.count("/") == 1 and m.name.endswith("/" + BUILT_MARKER) for m in tarred.getmembers()
        )


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def _site_packages(env: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return env / "lib" / version / "site-packages"


def _base_site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))
