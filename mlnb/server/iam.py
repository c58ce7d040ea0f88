"""ML Engine's IAM methods on models and jobs, answered from the server's
token roles: ``getIamPolicy`` lists which role each token holds (by a
fingerprint, never the token), ``testIamPermissions`` says which of the
asked ``ml.*`` permissions the caller has, and ``setIamPolicy`` is refused:
roles are the server's configuration (``MLNB_TOKENS``), not a request's."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from mlnb.errors import FailedPrecondition, InvalidArgument

__all__ = ["granted_permissions", "policy", "refuse_set_policy"]

# mlnb's roles as ML Engine's predefined roles name them.
ROLE_NAMES = {"viewer": "roles/ml.viewer", "editor": "roles/ml.modelOwner", "developer": "roles/ml.developer"}
_RANK = {"viewer": 0, "editor": 1, "developer": 2}
# The least role that holds a permission; any other ml.* permission is a
# developer's.
_LEAST_ROLE = {
    "get": "viewer",
    "list": "viewer",
    "predict": "viewer",
    "getIamPolicy": "viewer",
    "create": "editor",
    "update": "editor",
    "delete": "editor",
    "cancel": "editor",
}


def policy(tokens: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The ``Policy`` of every resource: one binding per role that has
    tokens; without tokens, the owner of a loopback-only server is all."""
    if not tokens:
        bindings = [{"role": "roles/ml.admin", "members": ["allUsers"]}]
    else:
        bindings = [
            {"role": ROLE_NAMES[role], "members": sorted(f"token:{_fingerprint(t)}" for t in values)}
            for role, values in tokens.items()
            if values
        ]
    digest = hashlib.sha256(repr(bindings).encode()).hexdigest()[:16]
    return {"version": 1, "bindings": bindings, "etag": digest}


def granted_permissions(role: str | None, body: Any) -> dict[str, Any]:
    """``testIamPermissions``: the asked permissions that ``role`` holds
    (``None``: the owner of a server without tokens, who holds them all).

    Raises:
        InvalidArgument: ``permissions`` is not a list of strings.
    """
    asked = body.get("permissions") if isinstance(body, dict) else None
    if not isinstance(asked, list) or not all(isinstance(p, str) for p in asked):
        raise InvalidArgument("permissions must be a list of strings (ml.models.get...)", field="permissions")
    held = [p for p in asked if _holds(role, p)]
    return {"permissions": held} if held else {}


def refuse_set_policy(resource: str) -> None:
    """``setIamPolicy``: roles are the server's to configure.

    Raises:
        FailedPrecondition: Always, naming the setting.
    """
    raise FailedPrecondition(
        f"The roles on {resource} are this server's configuration: set them in MLNB_TOKENS "
        "(or [tokens] in config.toml) and restart the server"
    )


def _holds(role: str | None, permission: str) -> bool:
    if role is None:
        return permission.startswith("ml.")
    parts = permission.split(".")
    if len(parts) != 3 or parts[0] != "ml":
        return False
    needed = _LEAST_ROLE.get(parts[2], "developer")
    if parts[1] == "jobs" and parts[2] == "create":
        needed = "developer"  # a training job runs code
    return _RANK[role] >= _RANK[needed]


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]
