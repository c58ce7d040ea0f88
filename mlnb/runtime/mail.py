"""E-mail through a configured SMTP server, tried a few times: a message
that cannot be sent is said in the answer and the log, never raised, as a
webhook's delivery is (``mlnb.runtime.webhooks``).

The server is a URL: ``smtp://[USER:PASSWORD@]HOST[:PORT]`` (port 25),
``smtp+starttls://...`` (587, upgraded with STARTTLS) or ``smtps://...``
(465, TLS from the start)."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from mlnb.config import without_password
from mlnb.errors import InvalidArgument

__all__ = ["MAIL_TIMEOUT_S", "check_smtp_url", "send_mail"]

MAIL_TIMEOUT_S = 10.0
_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
log = logging.getLogger("mlnb.mail")


def check_smtp_url(url: str) -> None:
    """
    Raises:
        InvalidArgument: Not an ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in _PORTS or not parts.hostname:
        raise InvalidArgument(
            f"smtp_url {without_password(url)!r} must be smtp://[USER:PASSWORD@]HOST[:PORT], "
            "smtp+starttls://... or smtps://..."
        )


def send_mail(
    smtp_url: str,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    tries: int = 1,
    backoff_s: float = 1.0,
) -> dict[str, Any]:
    """Send a plain-text message; ``{"delivered": True}`` or ``{"delivered":
    False, "error"}`` after ``tries`` attempts, ``backoff_s`` doubling between them."""
    try:
        check_smtp_url(smtp_url)
    except InvalidArgument as e:
        return {"delivered": False, "error": e.message}
    parts = urlsplit(smtp_url)
    message = EmailMessage()
    message["From"] = sender or f"mlnb@{socket.gethostname()}"
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    error = ""
    for attempt in range(max(1, tries)):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            _send(parts.scheme, parts.hostname or "", parts.port or _PORTS[parts.scheme], parts, message)
            return {"delivered": True}
        except (OSError, smtplib.SMTPException) as e:
            error = f"{type(e).__name__}: {e}"
            log.warning(
                "Could not send mail through %s (try %d of %d): %s",
                without_password(smtp_url),
                attempt + 1,
                tries,
                e,
            )
    return {"delivered": False, "error": error}


def _send(scheme: str, host: str, port: int, parts: Any, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    server: smtplib.SMTP
    if scheme == "smtps":
        server = smtplib.SMTP_SSL(host, port, timeout=MAIL_TIMEOUT_S, context=context)
    else:
        server = smtplib.SMTP(host, port, timeout=MAIL_TIMEOUT_S)
    with server:
        if scheme == "smtp+starttls":
            server.starttls(context=context)
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(message)
