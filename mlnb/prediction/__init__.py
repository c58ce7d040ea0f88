"""Prediction: ML Engine's instance rules, JSON-ready outputs, one predict
call over any Predictor, and warm predictors."""

from __future__ import annotations

from mlnb.prediction.instances import DecodedInstances, decode_instances
from mlnb.prediction.outputs import attach_keys, to_jsonable
from mlnb.prediction.predict import PredictorCache, run_prediction

__all__ = [
    "DecodedInstances",
    "PredictorCache",
    "attach_keys",
    "decode_instances",
    "run_prediction",
    "to_jsonable",
]
