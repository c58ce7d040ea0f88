"""The types of the request bodies the REST server takes, field by field,
as ML Engine's v1 discovery document gives them (a test holds the two
together), checked before a body reaches the Engine: a wrong type is a 400
that names the field, never a 500 from deeper down."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlnb.errors import InvalidArgument

STRING = "a string"
BOOLEAN = "true or false"
INT64 = "a whole number"  # int64 travels as a JSON string or number
MAP_OF_STRINGS = "a map of strings"
LIST_OF_STRINGS = "a list of strings"
OBJECT = "an object"
LIST = "a list"

MODEL = {
    "trafficSplit": OBJECT,  # mlnb's traffic
    "shadow": OBJECT,
    "aliases": MAP_OF_STRINGS,
    "routingKeyField": STRING,
    "name": STRING,
    "description": STRING,
    "labels": MAP_OF_STRINGS,
    "regions": LIST_OF_STRINGS,
    "onlinePredictionLogging": BOOLEAN,
    "onlinePredictionConsoleLogging": BOOLEAN,
    "defaultVersion": OBJECT,
    "etag": STRING,
    "evaluationGates": LIST,  # mlnb's: what a version must show to become the default
    "notifications": OBJECT,  # mlnb's: who hears of a refused gate, a new default
}
VERSION = {
    "name": STRING,
    "description": STRING,
    "deploymentUri": STRING,
    "runtimeVersion": STRING,
    "pythonVersion": STRING,
    "framework": STRING,
    "machineType": STRING,
    "predictionClass": STRING,
    "packageUris": LIST_OF_STRINGS,
    "labels": MAP_OF_STRINGS,
    "manualScaling": OBJECT,
    "autoScaling": OBJECT,
    "requestLoggingConfig": OBJECT,
    "explanationConfig": OBJECT,
    "etag": STRING,
    "batching": OBJECT,  # mlnb's own
}
JOB = {
    "jobId": STRING,
    "labels": MAP_OF_STRINGS,
    "trainingInput": OBJECT,
    "predictionInput": OBJECT,
    "etag": STRING,
    "jobKind": STRING,  # mlnb's own: a plug-in's kind...
    "jobInput": OBJECT,  # ...and its input
    "notebookInput": OBJECT,  # mlnb's own: a notebook job
}
# mlnb's own resource: a job template run on a cron or an interval.
SCHEDULE = {
    "name": STRING,
    "description": STRING,
    "labels": MAP_OF_STRINGS,
    "cron": STRING,
    "interval": STRING,
    "timeZone": STRING,
    "startTime": STRING,
    "endTime": STRING,
    "maxRuns": INT64,
    "maxConcurrentRuns": INT64,
    "missedRuns": STRING,
    "missedAfter": STRING,
    "jobTemplate": OBJECT,
}
PREDICTION_INPUT = {
    "dataFormat": STRING,
    "outputDataFormat": STRING,
    "inputPaths": LIST_OF_STRINGS,
    "outputPath": STRING,
    "modelName": STRING,
    "versionName": STRING,
    "uri": STRING,
    "maxWorkerCount": INT64,
    "batchSize": INT64,
    "runtimeVersion": STRING,
    "signatureName": STRING,
    "region": STRING,
    "explain": BOOLEAN,  # mlnb's: explanations beside the predictions
}
# mlnb's :evaluate: rows, their true values, and how to read them.
EVALUATE = {"instances": LIST, "targets": LIST, "task": STRING, "dataset": STRING, "store": BOOLEAN}
# mlnb's baseline of a version: training instances, and how drift is watched.
BASELINE = {"instances": LIST, "servedInstances": INT64, "alerting": OBJECT, "source": STRING}
# The body of :predict (the discovery document wraps it in an HttpBody).
PREDICT = {"signature_name": STRING}  # instances: the instance rules check them


def check_body(body: Mapping[str, Any], schema: Mapping[str, str], where: str) -> None:
    """Refuse a field of ``body`` whose value is not of its type (``null``
    is absent); fields the schema does not name are left to the Engine.

    Raises:
        InvalidArgument: ``{where}.{field} must be {type}, got {what}``.
    """
    for field, kind in schema.items():
        value = body.get(field)
        if value is not None and not _fits(value, kind):
            raise InvalidArgument(f"{where}.{field} must be {kind}, got {_shown(value)}")


def _fits(value: Any, kind: str) -> bool:
    if kind == STRING:
        return isinstance(value, str)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == INT64:
        if isinstance(value, str):
            return value.lstrip("-").isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == MAP_OF_STRINGS:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == LIST_OF_STRINGS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == OBJECT:
        return isinstance(value, dict)
    return isinstance(value, list)


def _shown(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    for python_type, name in kinds.items():
        if isinstance(value, python_type):
            return name
    return "a number" if isinstance(value, int | float) else type(value).__name__
