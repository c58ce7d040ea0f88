"""The one exception hierarchy of mlnb.

Each class carries the Google canonical status and the HTTP code that the REST
server answers with, and subclasses a builtin where one fits, so user code
that catches ``ValueError`` or ``LookupError`` keeps working.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import ClassVar

__all__ = [
    "AlreadyExists",
    "FailedPrecondition",
    "GateRefused",
    "InputMissing",
    "InvalidArgument",
    "MissingExtra",
    "MlnbError",
    "ModelLoadError",
    "NotFound",
    "PermissionDenied",
    "RequestTooLarge",
    "ResourceExhausted",
    "Unavailable",
    "import_extra",
]


class MlnbError(Exception):
    """Base of every error mlnb raises on purpose.

    Messages name what went wrong in the API's terms (its fields and
    methods), never a command of one face: REST and sidebar users read them
    too. ``field`` names the request field or argument at fault, for a face
    to add its own spelling of it (the CLI's flag).

    Attributes:
        status: Google canonical status name (``INVALID_ARGUMENT``...).
        http: HTTP status code the REST face answers with.
        field: The field at fault (``pythonModule``), or ``None``.
    """

    status: ClassVar[str] = "INTERNAL"
    http: ClassVar[int] = 500
    field: str | None = None

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field

    @property
    def message(self) -> str:
        """The human-readable message, without the class name."""
        return str(self.args[0]) if self.args else self.__class__.__name__

    def to_json(self) -> dict[str, object]:
        """Google's JSON error body for this error."""
        return {"error": {"code": self.http, "message": self.message, "status": self.status}}


class InvalidArgument(MlnbError, ValueError):
    """A request or an argument is malformed; the message names the field."""

    status = "INVALID_ARGUMENT"
    http = 400


class InputMissing(InvalidArgument):
    """A job's input pattern matches no file (yet): a schedule's run may
    wait for it (``inputWait``) where any other refusal is final."""


class RequestTooLarge(InvalidArgument):
    """A request body over the server's limit."""

    http = 413


class NotFound(MlnbError, LookupError):
    """A named resource does not exist.

    Attributes:
        resource: What was looked for, for a face to add its own hint
            (``("model", name)``, ``("version", model, name)``, ``("job", id)``).
    """

    status = "NOT_FOUND"
    http = 404

    def __init__(self, message: str, *, resource: tuple[str, ...] = (), field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.resource = resource


class AlreadyExists(MlnbError):
    """A resource with that name exists already."""

    status = "ALREADY_EXISTS"
    http = 409


class FailedPrecondition(MlnbError):
    """The system is not in a state that allows the operation."""

    status = "FAILED_PRECONDITION"
    http = 400


class GateRefused(FailedPrecondition):
    """A model's evaluation gates kept a version from the default or from a
    share of the traffic.

    Attributes:
        version: The version refused.
        failures: Each gate it failed, with the figures.
    """

    def __init__(self, message: str, version: str = "", failures: tuple[str, ...] = ()) -> None:
        super().__init__(message)  # only the message in args: it pickles as it is
        self.version = version
        self.failures = tuple(failures)


class ModelLoadError(FailedPrecondition):
    """A model's files are there but cannot be loaded; the message says why.

    Framework adapters raise it (or ``MissingExtra``); the registry records
    the message on the version that ends FAILED.
    """


class ResourceExhausted(MlnbError):
    """A quota would be exceeded."""

    status = "RESOURCE_EXHAUSTED"
    http = 429


class PermissionDenied(MlnbError):
    """The caller may not do this."""

    status = "PERMISSION_DENIED"
    http = 403


class MissingExtra(MlnbError, ImportError):
    """An optional dependency is missing; the message names the pip extra."""

    status = "FAILED_PRECONDITION"
    http = 400

    def __init__(self, what: str, extra: str, module: str) -> None:
        super().__init__(
            f"{what} needs the Python package '{module}', which is not installed. "
            f"Install it with: pip install 'mlnb[{extra}]'"
        )
        self.extra = extra
        self.module = module


def import_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional package, or raise ``MissingExtra`` naming the pip
    extra that brings it (``what`` says what needs it)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(what, extra, module) from e


class Unavailable(MlnbError):
    """A backing service is busy or down; trying again later may work."""

    status = "UNAVAILABLE"
    http = 503
