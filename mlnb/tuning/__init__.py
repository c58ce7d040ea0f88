"""Hyperparameter tuning: ML Engine's HyperparameterSpec run as the trials
of an Optuna study (Optuna is imported only when a study runs)."""

from __future__ import annotations

from mlnb.tuning.execution import TuningExecution, training_output
from mlnb.tuning.spec import TuningSpec

__all__ = ["TuningExecution", "TuningSpec", "training_output"]
