"""Canary rollouts: a job that moves a share of a model's traffic to a new
version step by step while the version's error rate and latency stay
within bounds, and rolls the split back at once when they do not."""

from mlnb.rollout.spec import RolloutSpec

__all__ = ["RolloutSpec"]
