"""Batch prediction jobs: files in, sharded over worker processes (or Dask
tasks), results and errors out as ML Engine writes them, resumable."""

from __future__ import annotations

from mlnb.batch.execution import MODEL_FILE, BatchPredictionExecution
from mlnb.batch.spec import DATA_FORMATS, OUTPUT_FORMATS, PredictionSpec, normalize_format

__all__ = [
    "DATA_FORMATS",
    "MODEL_FILE",
    "OUTPUT_FORMATS",
    "BatchPredictionExecution",
    "PredictionSpec",
    "normalize_format",
]
