"""Where a request to a shared server may point mlnb: the allowed roots.

A REST request names locations that the server's processes then read or
write (a version's ``deploymentUri`` and ``packageUris``, a job's
``packageUris``, ``jobDir``, ``inputPaths``, ``outputPath`` and model
``uri``). On a server with access tokens, each must lie under an allowed
root: the artifact root, ``$MLNB_HOME/files``, or a folder or bucket that
``allowed_roots`` names. ``data:`` URLs, chained URLs (``zip://...::...``)
and paths that climb out of a root (``..``, a symbolic link) are refused.
A user's own CLI and notebook are not bound: the user owns the machine.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mlnb.errors import PermissionDenied

__all__ = ["ALLOWED_ROOTS_SETTING", "LocationPolicy"]

ALLOWED_ROOTS_SETTING = "MLNB_ALLOWED_ROOTS"
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)$")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class LocationPolicy:
    """The roots that requests' locations must lie under.

    Attributes:
        roots: Local folders (absolute, links resolved) and URL prefixes
            (``s3://bucket/path``).
    """

    roots: tuple[str, ...]

    @classmethod
    def of(cls, artifact_root: str, home: str, allowed_roots: str) -> LocationPolicy:
        """The policy of a server's settings: the artifact root, the home's
        ``files`` folder and the comma-separated ``allowed_roots``."""
        extra = [r.strip() for r in allowed_roots.split(",") if r.strip()]
        return cls(tuple(_root(r) for r in [artifact_root, os.path.join(home, "files"), *extra]))

    def check(self, location: object, field: str) -> None:
        """Refuse a location outside every root.

        Raises:
            PermissionDenied: Naming the field, the location and the setting
                that would allow it.
        """
        if not isinstance(location, str) or not location:
            return  # the type checks of the request body say what is wrong
        reason = self._refusal(location)
        if reason is not None:
            raise PermissionDenied(
                f"{field} {location!r} {reason}; this server reads and writes only under "
                f"{', '.join(self.roots)} (add a folder or bucket to {ALLOWED_ROOTS_SETTING} to allow it)",
                field=field,
            )

    def check_all(self, locations: Iterable[object], field: str) -> None:
        """``check`` for each of a list of locations."""
        for location in locations:
            self.check(location, field)

    def _refusal(self, location: str) -> str | None:
        if "::" in location:
            return "is a chained URL"
        if location.lower().startswith("data:"):
            return "is a data: URL"
        normalized = _normalized(location)
        if normalized is None:
            return "is not a path or a URL mlnb reads"
        if any(normalized == root or normalized.startswith(root.rstrip("/") + "/") for root in self.roots):
            return None
        return "is outside the allowed roots"


def _root(location: str) -> str:
    normalized = _normalized(location)
    if normalized is None:
        raise ValueError(f"{location!r} cannot be an allowed root")
    return normalized


def _normalized(location: str) -> str | None:
    """An absolute path with links resolved, or a URL with ``..`` folded;
    the part before any wildcard of a pattern (``data/*.json``: ``data``)."""
    glob = _GLOB.search(location)
    fixed = location[: glob.start()] if glob else location
    found = _SCHEME.match(fixed)
    if found is None:
        return os.path.realpath(os.path.abspath(fixed)) if fixed else None
    scheme, rest = found.group(1).lower(), found.group(2)
    if scheme in ("file", "local"):
        return os.path.realpath(os.path.abspath("/" + rest.lstrip("/")))
    folded = posixpath.normpath("/" + rest).lstrip("/")
    return f"{scheme}://{folded}" if folded not in ("", ".") else None
