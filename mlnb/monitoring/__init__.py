"""Monitoring: profiles of instances (a version's baseline), and the drift
of served instances (or skew of another set) from a baseline."""

from mlnb.monitoring.drift import DEFAULT_PSI_THRESHOLD, drift
from mlnb.monitoring.profile import profile

__all__ = ["DEFAULT_PSI_THRESHOLD", "drift", "profile"]
