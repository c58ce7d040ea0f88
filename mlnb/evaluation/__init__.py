"""Evaluation: a version's figures on labelled data (scikit-learn's
metrics by the task it serves), and two versions compared with bootstrap
intervals of their difference."""

from mlnb.evaluation.data import LabelledData, labelled_data
from mlnb.evaluation.metrics import TASKS, bootstrap_difference, evaluate, figures_of, infer_task, label_key

__all__ = [
    "TASKS",
    "LabelledData",
    "bootstrap_difference",
    "evaluate",
    "figures_of",
    "infer_task",
    "label_key",
    "labelled_data",
]
