"""Batch prediction jobs: files in, sharded over worker processes (or Dask
tasks), results and errors out as ML Engine writes them, resumable.

The job's side lives in ``mlnb.batch.execution``; a worker process imports
only ``mlnb.batch.worker`` and what it needs, so that it starts fast."""
