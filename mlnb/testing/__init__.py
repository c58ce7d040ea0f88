"""Test suites shipped for third parties (import needs pytest)."""

from __future__ import annotations

from mlnb.testing.adapter_contract import AdapterContract

__all__ = ["AdapterContract"]
