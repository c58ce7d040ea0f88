"""Requests to a model routed by its traffic split: each to a version drawn
by the shares, or, when the request carries a routing key, to the version
the key's hash falls on, so that one user's requests stay on one version
(in every worker and on every server: the hash is not Python's salted one).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

__all__ = ["TrafficRoute"]


class TrafficRoute:
    """A split's versions on the 0 to 100 line, each over its share."""

    def __init__(self, split: Mapping[str, int]) -> None:
        self.split = dict(split)
        self._bounds: list[tuple[int, str]] = []
        total = 0
        for name, share in self.split.items():
            total += share
            self._bounds.append((total, name))

    def pick(self, key: str | None = None) -> str:
        """The version for a request: by ``key``'s hash when given, else drawn."""
        if key is None:
            point = random.randrange(100)  # noqa: S311 - a traffic share, not a secret
        else:
            point = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) % 100
        for bound, name in self._bounds:
            if point < bound:
                return name
        return self._bounds[-1][1]
