"""The ML Engine v1 discovery document shipped in google-api-python-client."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def discovery() -> dict[str, Any]:
    import googleapiclient

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "ml.v1.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def schema_properties(name: str) -> set[str]:
    return set(discovery()["schemas"][name]["properties"])
