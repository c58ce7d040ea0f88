"""Training: trainer packages, scale tiers and replicas, the environment a
trainer sees, and running the replicas of a training job."""

from __future__ import annotations

from mlnb.training.execution import TrainingExecution
from mlnb.training.packages import build_trainer_package
from mlnb.training.spec import TrainingSpec
from mlnb.training.tiers import SCALE_TIERS, plan_replicas

__all__ = [
    "SCALE_TIERS",
    "TrainingExecution",
    "TrainingSpec",
    "build_trainer_package",
    "plan_replicas",
]
