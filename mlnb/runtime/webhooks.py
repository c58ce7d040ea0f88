"""JSON bodies POSTed to a webhook (a Slack-compatible ``text`` field is the
caller's), tried a few times: a webhook that fails is said in the answer
and the log, never raised, so that what it reports on stands."""

from __future__ import annotations

import logging
import time
import urllib.request
from typing import Any

import orjson

__all__ = ["WEBHOOK_TIMEOUT_S", "post_json"]

WEBHOOK_TIMEOUT_S = 5.0
log = logging.getLogger("mlnb.webhooks")


def post_json(url: str, body: dict[str, Any], tries: int = 1, backoff_s: float = 1.0) -> dict[str, Any]:
    """POST ``body``; ``{"delivered": True, "status"}`` or ``{"delivered":
    False, "error"}`` after ``tries`` attempts, ``backoff_s`` doubling between them."""
    if not url.startswith(("http://", "https://")):
        return {"delivered": False, "error": f"{url!r} is not an http(s) URL"}
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}, method="POST"
    )
    error = ""
    for attempt in range(max(1, tries)):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310
                return {"delivered": True, "status": response.status}
        except OSError as e:
            error = str(e)
            log.warning("Could not deliver to %s (try %d of %d): %s", url, attempt + 1, tries, e)
    return {"delivered": False, "error": error}
