"""Access tokens with roles, as ML Engine's IAM split them: a viewer may
get, list and predict; an editor may also create, change and delete; a
developer may also run code on the server (deploy pickles and custom
prediction routines, run trainers: the routes check that, knowing the
body). Tokens arrive as ``Authorization: Bearer TOKEN`` and are compared
in constant time; the caller's role is left in the request's state. What
a viewer reads has its webhook URLs cut to their host (``WebhooksRedacted``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlnb.errors import InvalidArgument
from mlnb.server.errors import error_response

ROLES = ("viewer", "editor", "developer")
_OPEN_PATHS = ("/healthz", "/readyz")


def check_tokens(tokens: Mapping[str, Sequence[str]]) -> dict[str, list[bytes]]:
    """Tokens by role, as bytes for comparison.

    Raises:
        InvalidArgument: An unknown role, or a token too short to be secret.
    """
    checked: dict[str, list[bytes]] = {}
    for role, values in tokens.items():
        if role not in ROLES:
            raise InvalidArgument(f"Unknown role {role!r} in tokens; roles: {', '.join(ROLES)}")
        for value in values:
            if len(value) < 16:
                raise InvalidArgument(f"A {role} token is {len(value)} characters; use 16 or more")
        checked[role] = [v.encode() for v in values]
    return checked


def role_of(token: bytes, tokens: Mapping[str, Sequence[bytes]]) -> str | None:
    """The role of a token (the highest first), comparing against every
    token so that timing tells nothing."""
    found = None
    for role in reversed(ROLES):
        for candidate in tokens.get(role, ()):
            if hmac.compare_digest(token, candidate) and found is None:
                found = role
    return found


def needs_editor(method: str, path: str) -> bool:
    """Reads, predictions and permission checks are a viewer's; everything
    else an editor's."""
    if method in ("GET", "HEAD"):
        return False
    return not (method == "POST" and path.endswith((":predict", ":explain", ":testIamPermissions")))


class TokenAccess:
    """ASGI middleware that admits requests by bearer token and role."""

    def __init__(self, app: ASGIApp, tokens: Mapping[str, Sequence[str]]) -> None:
        self.app = app
        self.tokens = check_tokens(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or scope["path"] in _OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        role = role_of(token, self.tokens) if token is not None else None
        if role is None:
            message = "A valid access token is required: send Authorization: Bearer TOKEN"
            await error_response(401, message, "UNAUTHENTICATED")(scope, receive, send)
            return
        if role == "viewer" and needs_editor(scope["method"], scope["path"]):
            request = f"{scope['method']} {scope['path']}"
            message = f"A viewer token may read and predict; {request} needs an editor token"
            await error_response(403, message, "PERMISSION_DENIED")(scope, receive, send)
            return
        scope.setdefault("state", {})["role"] = role
        if role == "viewer" and scope["method"] == "GET":  # a HEAD's length stays the GET's
            send = WebhooksRedacted(send)
        await self.app(scope, receive, send)


class WebhooksRedacted:
    """Sends a JSON answer with each ``webhook`` URL in it cut to its scheme
    and host. A webhook URL is its own credential (Slack's, Teams' and
    Discord's carry their secret in the path): a viewer may read a model,
    a job or a schedule, not post to the channels they tell. Other answers
    (logs, files) pass as they come."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: dict[str, Any] | None = None
        self._chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            types = [v for k, v in message.get("headers") or [] if k.lower() == b"content-type"]
            if types and types[0].startswith(b"application/json"):
                self._start = dict(message)  # held until the body is whole
                return
        elif message["type"] == "http.response.body" and self._start is not None:
            self._chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = redacted_webhooks(b"".join(self._chunks))
            start, self._start = self._start, None
            kept = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
            await self._send({**start, "headers": [*kept, (b"content-length", str(len(body)).encode())]})
            await self._send({"type": "http.response.body", "body": body})
            return
        await self._send(message)


def redacted_webhooks(body: bytes) -> bytes:
    """``body`` (JSON) with the value of every ``webhook`` field, at any
    depth, cut to ``scheme://host/…``."""
    if b'"webhook"' not in body:
        return body
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return orjson.dumps(_redacted(value))


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _cut(v) if k == "webhook" and isinstance(v, str) else _redacted(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _cut(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}/…" if parts.scheme else "…"


def _bearer(scope: Scope) -> bytes | None:
    headers: Any = scope.get("headers") or []
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return bytes(value[7:].strip())
    return None
