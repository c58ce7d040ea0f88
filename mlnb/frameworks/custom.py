"""Custom prediction routines, as ML Engine defines them: a class named by
the version's ``predictionClass``, shipped in its ``packageUris``, with
``from_path(model_dir)`` and ``predict(instances, **kwargs)``."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, ClassVar

from mlnb.errors import InvalidArgument
from mlnb.frameworks.base import LoadOptions, ModelLoadError, Predictor


def _importable(package: Path, cache_dir: Path) -> list[Path]:
    """The paths to put on ``sys.path`` for one package URI's local copy."""
    if package.is_dir() or package.suffix in (".whl", ".zip"):
        return [package]
    if package.suffix == ".py":
        return [package.parent]
    if package.name.endswith((".tar.gz", ".tgz")) and tarfile.is_tarfile(package):
        digest = hashlib.sha256(package.read_bytes()).hexdigest()[:24]
        target = cache_dir / digest
        if not target.exists():
            _pip_install_target(package, target)
        # Google's prediction-routine tutorials ship their modules as
        # setup(scripts=[...]), which an install puts in bin/: ML Engine
        # imported them from there, and so does mlnb.
        return [target, *([target / "bin"] if (target / "bin").is_dir() else [])]
    raise ModelLoadError(
        f"Package {package.name} is not a wheel, an sdist (.tar.gz), a .zip, a .py file or a folder"
    )


def _pip_install_target(package: Path, target: Path) -> None:
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(partial)]
    # With the setuptools installed beside mlnb first (no download), in an
    # isolated build environment only when the package needs another backend.
    done = subprocess.run(
        [*command, "--no-build-isolation", str(package)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run([*command, str(package)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ModelLoadError(f"Installing {package.name} failed: {done.stderr.strip()[-2000:]}")
    try:
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # installed at the same time elsewhere


class CustomAdapter:
    """The adapter for custom prediction routines (never detected from files)."""

    name: ClassVar[str] = "CUSTOM"
    aliases: ClassVar[tuple[str, ...]] = ("custom",)
    file_patterns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    def detect(self, model_dir: Path) -> bool:
        return False

    def load(self, model_dir: Path, options: LoadOptions) -> Predictor:
        if not options.prediction_class or "." not in options.prediction_class:
            raise ModelLoadError(
                "A custom prediction routine needs predictionClass as module.Class, "
                f"got {options.prediction_class!r}"
            )
        for package in options.package_dirs:
            for path in _importable(package, self.cache_dir):
                if str(path) not in sys.path:
                    sys.path.insert(0, str(path))
        module_name, class_name = options.prediction_class.rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise ModelLoadError(
                f"Cannot import {module_name!r} for predictionClass "
                f"{options.prediction_class!r}: {e}. Is it in the version's packageUris?"
            ) from e
        cls = getattr(module, class_name, None)
        if cls is None or not callable(getattr(cls, "from_path", None)):
            raise ModelLoadError(
                f"{options.prediction_class} must be a class with a from_path(model_dir) classmethod"
            )
        predictor = cls.from_path(str(model_dir))
        if not callable(getattr(predictor, "predict", None)):
            raise ModelLoadError(f"{options.prediction_class}.from_path returned no predict method")
        return predictor  # type: ignore[no-any-return]

    def save(self, model: Any, model_dir: Path) -> Path:
        raise InvalidArgument(
            "A custom prediction routine writes its own files; deploy the folder it reads "
            "in from_path, with predictionClass and packageUris"
        )
