"""Training: trainer packages, scale tiers and replicas, the environment a
trainer sees, and running the replicas of a training job."""

from __future__ import annotations

from mlnb.training.execution import Outcome, TrainingExecution
from mlnb.training.packages import build_trainer_package, prepare_environment, safe_extract
from mlnb.training.tiers import SCALE_TIERS, Replica, plan_replicas

__all__ = [
    "SCALE_TIERS",
    "Outcome",
    "Replica",
    "TrainingExecution",
    "build_trainer_package",
    "plan_replicas",
    "prepare_environment",
    "safe_extract",
]
