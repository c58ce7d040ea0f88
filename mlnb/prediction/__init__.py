"""Prediction: ML Engine's instance rules, JSON-ready outputs, one predict
call over any Predictor, and warm predictors."""

from __future__ import annotations

from mlnb.prediction.instances import DecodedInstances, InstanceError, decode_each, decode_instances
from mlnb.prediction.outputs import attach_keys, to_jsonable
from mlnb.prediction.predict import PredictorCache, predict_decoded, predict_each, run_prediction
from mlnb.prediction.request_log import PredictionLog
from mlnb.prediction.served import ServedCounts

__all__ = [
    "DecodedInstances",
    "InstanceError",
    "PredictionLog",
    "PredictorCache",
    "ServedCounts",
    "attach_keys",
    "decode_each",
    "decode_instances",
    "predict_decoded",
    "predict_each",
    "run_prediction",
    "to_jsonable",
]
