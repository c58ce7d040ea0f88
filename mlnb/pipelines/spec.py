"""A pipeline's input (the ``jobInput`` of a ``pipeline`` job), checked at
submission: a graph of named steps, each one action, run once the steps it
``needs`` are done.

    parameters: {data: /data/train.csv}
    steps:
    - name: train
      job: {trainingInput: {...}}          # any Job body: training, tuning,
                                           # batch prediction, notebook, a kind
    - name: deploy
      needs: [train]
      deploy: {model: census, version: "v_{{ steps.train.shortKey }}",
               deploymentUri: "{{ steps.train.jobDir }}/model"}
    - name: evaluate
      needs: [deploy]
      evaluate: {model: census, version: "{{ steps.deploy.version }}",
                 data: /data/holdout.csv, target: label,
                 gates: "holdout:accuracy>=0.9"}
    - name: promote
      needs: [evaluate]
      when: "{{ steps.evaluate.passed }}"
      setDefault: {model: census, version: "{{ steps.deploy.version }}"}

Strings of a step may name ``{{ parameters.NAME }}``, ``{{ pipeline }}``
(the pipeline job's id) and ``{{ steps.STEP.FIELD }}`` of a step it needs
(the outputs ``mlnb.pipeline_run`` lists). ``when`` skips the step (and the
steps that need it) unless it fills to true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.naming import object_fields, validate_name
from mlnb.records import JOB_INPUTS, JOB_OPTIONS

__all__ = ["ACTIONS", "PipelineSpec", "StepSpec"]

ACTIONS = ("job", "deploy", "evaluate", "setDefault")
_STEP_FIELDS = {"name", "needs", "when", *ACTIONS}
_MAX_STEPS = 100


@dataclass(frozen=True)
class StepSpec:
    """One step: its name, the steps it needs, its condition, and its
    action (one of ``ACTIONS``) with that action's body."""

    name: str
    action: str
    body: dict[str, Any]
    needs: tuple[str, ...] = ()
    when: str | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, self.action: self.body}
        if self.needs:
            out["needs"] = list(self.needs)
        if self.when is not None:
            out["when"] = self.when
        return out


@dataclass(frozen=True)
class PipelineSpec:
    """The steps, in an order where each comes after those it needs, and
    the parameters their strings may name."""

    steps: tuple[StepSpec, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    # mlnb's options of every job (its notifications, scheduling, retries),
    # kept as given: the job service reads them from the job's input.
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> PipelineSpec:
        """
        Raises:
            InvalidArgument: A bad step (named), a step that needs one that
                does not exist, or steps that need each other in a cycle.
        """
        fields = {"steps", "parameters", *JOB_OPTIONS}
        body = object_fields(body, "pipeline", fields, '{"steps": [{"name": ..., "job": {...}}]}')
        raw = body.get("steps")
        if not isinstance(raw, list) or not raw:
            raise InvalidArgument("A pipeline needs steps: a list of {name, needs, when, and one action}")
        if len(raw) > _MAX_STEPS:
            raise InvalidArgument(f"A pipeline has at most {_MAX_STEPS} steps, not {len(raw)}")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidArgument("pipeline.parameters must be an object")
        steps = [_step(item, index) for index, item in enumerate(raw)]
        names = [s.name for s in steps]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise InvalidArgument(f"Two steps are named {doubled[0]!r}: each step needs a name of its own")
        for step in steps:
            unknown = [n for n in step.needs if n not in names]
            if unknown:
                raise InvalidArgument(
                    f"Step {step.name!r} needs {unknown[0]!r}, which is no step of the pipeline"
                )
        options = {k: body[k] for k in JOB_OPTIONS if body.get(k) is not None}
        return cls(_ordered(steps), dict(parameters), options)

    def layers(self) -> list[list[str]]:
        """The steps by depth, for drawing the graph: the first layer needs
        nothing, each later one needs a step of the layer before it (and
        maybe earlier ones); within a layer, the steps' order."""
        depth: dict[str, int] = {}
        for step in self.steps:  # ordered: what a step needs came before it
            depth[step.name] = 1 + max((depth[n] for n in step.needs), default=-1)
        layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for step in self.steps:
            layers[depth[step.name]].append(step.name)
        return layers

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"steps": [s.to_api() for s in self.steps]}
        if self.parameters:
            out["parameters"] = self.parameters
        return {**out, **self.options}

    def step(self, name: str) -> StepSpec:
        return next(s for s in self.steps if s.name == name)


def _step(item: Any, index: int) -> StepSpec:
    where = f"steps[{index}]"
    item = object_fields(item, where, _STEP_FIELDS, '{"name": "train", "needs": [...], "job": {...}}')
    name = validate_name("step", item.get("name"))
    actions = [a for a in ACTIONS if item.get(a) is not None]
    if len(actions) != 1:
        given = ", ".join(actions) or "none"
        raise InvalidArgument(f"Step {name!r} must have one action among {', '.join(ACTIONS)}, not {given}")
    action = actions[0]
    body = item[action]
    if not isinstance(body, dict):
        raise InvalidArgument(f"Step {name!r}: {action} must be an object")
    needs = item.get("needs") or []
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise InvalidArgument(f"Step {name!r}: needs lists step names")
    if name in needs:
        raise InvalidArgument(f"Step {name!r} needs itself")
    when = item.get("when")
    if when is not None and not isinstance(when, str | bool):
        raise InvalidArgument(
            f"Step {name!r}: when must be a string such as '{{{{ steps.evaluate.passed }}}}'"
        )
    _check_action(name, action, body)
    return StepSpec(
        name, action, dict(body), tuple(dict.fromkeys(needs)), None if when is None else str(when)
    )


def _check_action(name: str, action: str, body: Mapping[str, Any]) -> None:
    """What can be checked before the parameters are filled."""
    required = {"deploy": ("model", "version", "deploymentUri"), "evaluate": ("model", "data"),
                "setDefault": ("model", "version")}.get(action, ())  # fmt: skip
    missing = [f for f in required if not body.get(f)]
    if missing:
        raise InvalidArgument(f"Step {name!r}: {action} needs {', '.join(missing)}")
    if action == "job" and not any(body.get(k) for k in JOB_INPUTS):
        raise InvalidArgument(
            f"Step {name!r}: job is a Job body without jobId (trainingInput, predictionInput, "
            "notebookInput, or jobKind and jobInput)"
        )


def _ordered(steps: list[StepSpec]) -> tuple[StepSpec, ...]:
    """The steps, each after those it needs (their written order kept where
    free).

    Raises:
        InvalidArgument: Steps that need each other, in a cycle (named).
    """
    done: list[StepSpec] = []
    left = list(steps)
    while left:
        ready = [s for s in left if all(n in {d.name for d in done} for n in s.needs)]
        if not ready:
            cycle = " -> ".join(s.name for s in left)
            raise InvalidArgument(f"These steps need each other in a cycle: {cycle}")
        done.extend(ready)
        left = [s for s in left if s not in ready]
    return tuple(done)
