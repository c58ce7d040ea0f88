"""ML Engine's ``trainingInput``, read once at the boundary into a typed
spec: each rule checked in one place with one message, the fields mlnb runs
by typed, and every other field (``region``, ``runtimeVersion``,
``masterConfig``...) kept as given so that the job's body round-trips."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.naming import validate_python_version
from mlnb.runtime.replicas import Replica
from mlnb.training.tiers import plan_replicas

__all__ = ["TrainingSpec"]

# The fields mlnb reads itself; the rest of a trainingInput travels in ``other``.
_TYPED = ("pythonModule", "packageUris", "args", "jobDir", "scaleTier", "hyperparameters")


@dataclass(frozen=True)
class TrainingSpec:
    """A training (or tuning) job's input.

    Attributes:
        python_module: The module the replicas run (``python -m``).
        package_uris: The trainer's package archives, the built one first.
        args: The trainer's own arguments.
        job_dir: Where the trainer writes (``--job-dir``), a URL or an absolute path.
        scale_tier: ``BASIC`` (the default when ``None``), ``STANDARD_1``...,
            or ``CUSTOM``, as given.
        hyperparameters: A tuning job's ``HyperparameterSpec``, as given (checked).
        other: Every other field of the trainingInput, as given.
    """

    python_module: str
    package_uris: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    job_dir: str | None = None
    scale_tier: str | None = None
    hyperparameters: Mapping[str, Any] | None = None
    other: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, body: Any, tiers: Mapping[str, Mapping[str, Any]] | None = None) -> TrainingSpec:
        """Read and check a trainingInput; ``tiers`` are the configured scale tiers.

        Raises:
            InvalidArgument: A field of the wrong type, no module, or an
                unknown scale tier or machine setup.
        """
        if not isinstance(body, Mapping):
            raise InvalidArgument(f"trainingInput must be an object, got {_kind(body)}")
        module = body.get("pythonModule")
        if not module:
            raise InvalidArgument("A training job needs a module to run (pythonModule)", field="pythonModule")
        # The HyperparameterSpec's own rules are the tuning part's (TuningSpec).
        hyperparameters = body.get("hyperparameters") or None
        if hyperparameters is not None and not isinstance(hyperparameters, Mapping):
            raise InvalidArgument(f"hyperparameters must be an object, got {_kind(hyperparameters)}")
        spec = cls(
            python_module=_text(module, "pythonModule"),
            package_uris=tuple(
                _text(u, "packageUris[]") for u in _list(body.get("packageUris"), "packageUris")
            ),
            args=tuple(_argument(a) for a in _list(body.get("args"), "args")),
            job_dir=_text(body["jobDir"], "jobDir") if body.get("jobDir") else None,
            scale_tier=_text(body["scaleTier"], "scaleTier") if body.get("scaleTier") else None,
            hyperparameters=dict(hyperparameters) if hyperparameters is not None else None,
            other={k: v for k, v in body.items() if k not in _TYPED},
        )
        spec.replicas(tiers)  # an unknown tier or a half-set CUSTOM machine fails now
        validate_python_version(body.get("pythonVersion"))
        return spec

    @property
    def tuning(self) -> bool:
        """Whether this is a hyperparameter tuning job."""
        return self.hyperparameters is not None

    def replicas(self, tiers: Mapping[str, Mapping[str, Any]] | None = None) -> list[Replica]:
        """The replicas the job asks for, master first (see ``plan_replicas``)."""
        return plan_replicas(self.to_api(), tiers)

    def replace(self, **changes: Any) -> TrainingSpec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def trainer_arguments(self) -> list[str]:
        """The trainer's command line: ``args``, then ``--job-dir`` unless
        the args name it already."""
        arguments = list(self.args)
        named = "--job-dir" in arguments or any(a.startswith("--job-dir=") for a in arguments)
        return arguments if not self.job_dir or named else [*arguments, "--job-dir", self.job_dir]

    def to_api(self) -> dict[str, Any]:
        """The trainingInput JSON (camelCase), the other fields included."""
        body: dict[str, Any] = dict(self.other)
        body.update(
            {
                "pythonModule": self.python_module,
                "packageUris": list(self.package_uris),
                "args": list(self.args),
                "jobDir": self.job_dir,
                "scaleTier": self.scale_tier,
                "hyperparameters": dict(self.hyperparameters) if self.hyperparameters is not None else None,
            }
        )
        return {k: v for k, v in body.items() if v not in (None, [])}


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, got {_kind(value)}")
    return value


def _list(value: Any, name: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidArgument(f"{name} must be a list, got {_kind(value)}")
    return value


def _argument(value: Any) -> str:
    # gcloud passes every trainer argument as a string; numbers (and
    # booleans) in a YAML config are taken as their text.
    if not isinstance(value, str | int | float):  # bool is an int
        raise InvalidArgument(f"args must be strings, got {_kind(value)}")
    return str(value)
