"""A notebook job's input (mlnb's ``notebookInput``, beside ML Engine's
``trainingInput`` and ``predictionInput``), read once into a typed spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["NotebookSpec"]


@dataclass(frozen=True)
class NotebookSpec:
    """What a notebook job runs and where its results go.

    Attributes:
        notebook: The staged copy that the job runs (later edits of the
            source do not change it).
        source: The notebook the user submitted.
        output_notebook: Where the executed notebook is kept (the artifact
            store: a path or URL), put there when the job ends.
        parameters: Injected after the notebook's ``parameters`` cell.
        kernel_name: The Jupyter kernel; ``None`` runs the notebook's own.
        scale_tier: The tier it was submitted with (it may name the kernel).
        job_dir: A folder or URL that receives a copy of the executed notebook.
        working_dir: The folder the notebook runs in (the source's), where
            the job runs on the machine that has it (else the job's folder).
    """

    notebook: str
    source: str
    output_notebook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    kernel_name: str | None = None
    scale_tier: str | None = None
    job_dir: str | None = None
    working_dir: str | None = None

    @classmethod
    def from_api(cls, body: Any) -> NotebookSpec:
        """Read a notebookInput.

        Raises:
            InvalidArgument: A field missing or of the wrong type.
        """
        if not isinstance(body, Mapping):
            raise InvalidArgument(f"notebookInput must be an object, got {type(body).__name__}")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise InvalidArgument(f"parameters must be an object, got {type(parameters).__name__}")
        return cls(
            notebook=_text(body, "notebook", required=True) or "",
            source=_text(body, "source") or _text(body, "notebook", required=True) or "",
            output_notebook=_text(body, "outputNotebook", required=True) or "",
            parameters=dict(parameters),
            kernel_name=_text(body, "kernelName"),
            scale_tier=_text(body, "scaleTier"),
            job_dir=_text(body, "jobDir"),
            working_dir=_text(body, "workingDir"),
        )

    def to_api(self) -> dict[str, Any]:
        """The notebookInput JSON (camelCase), unset fields left out."""
        body = {
            "notebook": self.notebook,
            "source": self.source,
            "parameters": dict(self.parameters),
            "kernelName": self.kernel_name,
            "scaleTier": self.scale_tier,
            "jobDir": self.job_dir,
            "workingDir": self.working_dir,
            "outputNotebook": self.output_notebook,
        }
        return {k: v for k, v in body.items() if v is not None}


def _text(body: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidArgument(f"notebookInput needs {name}")
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, got {type(value).__name__} {value!r}"[:200])
    return value
