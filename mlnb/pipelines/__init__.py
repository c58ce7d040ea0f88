"""Pipelines: a graph of steps (jobs, deploys, evaluations, set-defaults)
run as one job. The spec is read here; ``mlnb.pipeline_run`` runs it."""

from mlnb.pipelines.spec import ACTIONS, PipelineSpec, StepSpec

__all__ = ["ACTIONS", "PipelineSpec", "StepSpec"]
