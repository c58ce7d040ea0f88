"""The ML Engine v1 routes, each a thin call into the Engine."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlnb.errors import InvalidArgument, MlnbError, NotFound, PermissionDenied
from mlnb.listing import matches_filter
from mlnb.naming import (
    resource_leaf,
    validate_name,
    validate_operation_id,
    validate_project,
    validate_version_ref,
    whole_number,
)
from mlnb.server import iam, schemas
from mlnb.server.json import MAX_INSTANCES, json_response, parse_json, read_body, read_object
from mlnb.server.paging import page
from mlnb.server.schemas import check_body

if TYPE_CHECKING:
    from mlnb.api import Engine
    from mlnb.records import ModelRecord

_VERSION_FIELDS = {
    "description": "description",
    "deploymentUri": "origin",
    "framework": "framework",
    "labels": "labels",
    "runtimeVersion": "runtime_version",
    "pythonVersion": "python_version",
    "predictionClass": "prediction_class",
    "packageUris": "package_uris",
    "manualScaling": "manual_scaling",
    "autoScaling": "auto_scaling",
    "machineType": "machine_type",
    "requestLoggingConfig": "request_logging_config",
    "explanationConfig": "explanation_config",
    "batching": "batching",
}


# The most log entries one jobs.logs answer carries.
LOG_PAGE_SIZE = 5000


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _project(request: Request) -> str:
    # A project is a folder and a key: it passes its rules before either.
    return validate_project(request.path_params["project"])


def _split(value: str) -> tuple[str, str | None]:
    """``census:predict`` to (``census``, ``predict``)."""
    name, _, verb = value.partition(":")
    return name, verb or None


def _name(kind: str, value: str) -> str:
    # Names reach no file or table before they pass the naming rules.
    return validate_name(kind, value)


async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Engine calls touch the database and files: off the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


async def project_root(request: Request) -> Response:
    project, verb = _split(request.path_params["project"])
    project = validate_project(project)
    if verb != "getConfig":
        raise NotFound(f"No such method: {request.url.path}")
    return json_response({"serviceAccount": "", "serviceAccountProject": project, "config": {}})


async def models(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    if request.method == "POST":
        body = await read_object(request, schemas.MODEL, "model")
        name = resource_leaf("model", body.get("name", ""), f"projects/{project}")
        record = await call(
            engine.create_model,
            name,
            description=body.get("description", ""),
            labels=body.get("labels"),
            online_prediction_logging=bool(body.get("onlinePredictionLogging", False)),
            online_prediction_console_logging=bool(body.get("onlinePredictionConsoleLogging", False)),
            regions=body.get("regions"),
            project=project,
        )
        return json_response(record.to_api())
    return _listed(request, "models", [m.to_api() for m in await call(engine.list_models, project=project)])


async def model(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    name, verb = _split(request.path_params["model"])
    name = _name("model", name)
    if verb == "predict" and request.method == "POST":
        return await _predict(request, name, None)
    if verb == "explain" and request.method == "POST":
        return await _explain(request, name, None)
    if verb == "evaluate" and request.method == "POST":
        return await _evaluate(request, name, None)
    if verb in _IAM_VERBS:
        await call(engine.get_model, name, project=project)  # NotFound first
        return await _iam(request, verb, f"projects/{project}/models/{name}")
    if verb == "served" and request.method == "GET":  # mlnb's: what each version answered lately
        since = request.query_params.get("since", "1h")
        return json_response(await call(engine.served, name, since=since, project=project))
    if verb is not None:
        raise NotFound(f"No such method: {request.url.path}")
    if request.method == "GET":
        return json_response((await call(engine.get_model, name, project=project)).to_api())
    if request.method == "DELETE":
        return json_response((await call(engine.delete_model_operation, name, project=project)).to_api())
    return json_response((await _patch_model(request, engine, project, name)).to_api())


async def _patch_model(request: Request, engine: Engine, project: str, name: str) -> ModelRecord:
    """``models.patch``: ML Engine's fields, and mlnb's traffic (split,
    shadow, aliases), each as its updateMask names."""
    body = await read_object(request, schemas.MODEL, "model")
    traffic = {"trafficSplit", "shadow", "aliases", "routingKeyField"}
    mask = _update_mask(request, {"description", "labels", "evaluationGates", "notifications", *traffic})
    record: ModelRecord = await call(engine.get_model, name, project=project)
    if mask - traffic:
        record = await call(
            engine.update_model,
            name,
            description=body.get("description", "") if "description" in mask else None,
            labels=body.get("labels") or {} if "labels" in mask else None,
            evaluation_gates=body.get("evaluationGates") or [] if "evaluationGates" in mask else None,
            notifications=body.get("notifications") or {} if "notifications" in mask else None,
            etag=body.get("etag"),
            project=project,
        )
    if "trafficSplit" in mask:
        split = body.get("trafficSplit") or {}
        record = await call(engine.set_traffic_split, name, split, etag=body.get("etag"), project=project)
    if "shadow" in mask:
        shadow = body.get("shadow") or {}
        percent = shadow.get("percent", 100)
        record = await call(engine.set_shadow, name, shadow.get("version"), percent=percent, project=project)
    if "routingKeyField" in mask:
        field = body.get("routingKeyField") or None
        record = await call(engine.set_routing_key_field, name, field, project=project)
    if "aliases" in mask:
        wanted = body.get("aliases") or {}
        for alias in sorted(set(record.aliases) - set(wanted)):
            record = await call(engine.set_alias, name, alias, None, project=project)
        for alias, target in sorted(wanted.items()):
            if record.aliases.get(alias) != target:
                record = await call(engine.set_alias, name, alias, target, project=project)
    return record


async def versions(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    model_name = _name("model", request.path_params["model"])
    if request.method == "POST":
        body = await read_object(request, schemas.VERSION, "version")
        name = resource_leaf("version", body.get("name", ""), f"projects/{project}/models/{model_name}")
        fields = {_VERSION_FIELDS[k]: v for k, v in body.items() if k in _VERSION_FIELDS}
        origin = fields.pop("origin", None)
        if not origin:
            raise InvalidArgument("A version needs deploymentUri: the folder of its model files")
        _check_locations(request, "deploymentUri", [origin])
        _check_locations(request, "packageUris", fields.get("package_uris") or [])
        await _check_model_code(
            request, origin, fields.get("package_uris") or [], fields.get("prediction_class")
        )
        operation = await call(
            engine.start_version_creation, model_name, name, origin, project=project, **fields
        )
        return json_response(operation.to_api())
    records = await call(engine.list_versions, model_name, project=project)
    # mlnb's: each version's newest evaluation, in short (one grouped read).
    latest = await call(engine.latest_evaluations, project=project)
    bodies = []
    for record in records:
        body = record.to_api()
        if (model_name, record.name) in latest:
            body["latestEvaluation"] = latest[(model_name, record.name)].summary()
        bodies.append(body)
    return _listed(request, "versions", bodies)


async def version(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    model_name = _name("model", request.path_params["model"])
    name, verb = _split(request.path_params["version"])
    name = validate_version_ref(name)  # or @ALIAS, mlnb's
    if request.method == "POST" and verb == "predict":
        return await _predict(request, model_name, name)
    if request.method == "POST" and verb == "explain":
        return await _explain(request, model_name, name)
    if request.method == "POST" and verb == "evaluate":
        return await _evaluate(request, model_name, name)
    if request.method == "POST" and verb == "setDefault":
        record = await call(engine.set_default_version, model_name, name, project=project)
        return json_response(record.to_api())
    if verb is not None:
        raise NotFound(f"No such method: {request.url.path}")
    if request.method == "GET":
        found = await call(engine.get_version, model_name, name, project=project)
        body = found.to_api()
        # mlnb's: the version's newest evaluation, in short (all: .../evaluations).
        newest = await call(engine.list_evaluations, model_name, version=found.name, limit=1, project=project)
        if newest:
            body["latestEvaluation"] = newest[0].summary()
        return json_response(body)
    if request.method == "DELETE":
        operation = await call(engine.delete_version_operation, model_name, name, project=project)
        return json_response(operation.to_api())
    body = await read_object(request, schemas.VERSION, "version")
    mask = _update_mask(request, {"description", "labels"})
    record = await call(
        engine.update_version,
        model_name,
        name,
        description=body.get("description", "") if "description" in mask else None,
        labels=body.get("labels") or {} if "labels" in mask else None,
        etag=body.get("etag"),
        project=project,
    )
    return json_response(record.to_api())


async def _instances_body(request: Request) -> tuple[dict[str, Any], BodyText, Callable[[], list[Any]]]:
    """A predict or explain request's body: ``{"instances": [...], ...}``,
    what its text says of the values (``BodyText``), and what reads its
    instances again from that text."""
    raw = await read_body(request)
    body = _unwrapped(parse_json(raw))
    if not isinstance(body, dict) or "instances" not in body:
        raise InvalidArgument('The request body must be a JSON object with an "instances" list')
    check_body(body, schemas.PREDICT, "request")
    if isinstance(body["instances"], list) and len(body["instances"]) > MAX_INSTANCES:
        count = len(body["instances"])
        raise InvalidArgument(f"{count} instances in one request; the most allowed is {MAX_INSTANCES}")
    return body, BodyText.of(raw), lambda: list(_unwrapped(parse_json(raw))["instances"])


def _unwrapped(body: Any) -> Any:
    """The body, out of the discovery document's PredictRequest
    (ExplainRequest) wrapper when it comes in one."""
    if isinstance(body, dict) and "httpBody" in body and "instances" not in body:
        return body["httpBody"]
    return body


@dataclass(frozen=True)
class BodyText:
    """What a request's JSON text says of its values, read from the bytes
    before the parse: whether it may hold a boolean (it has ``true`` or
    ``false``; without, numeric instances are checked in bulk), and whether
    it holds numbers and lists only (no string but the ``"instances"`` key,
    no ``true``, ``false`` or ``null``)."""

    may_hold_booleans: bool
    numbers_only: bool

    @classmethod
    def of(cls, raw: bytes) -> BodyText:
        # Numbers hold neither a "u" nor an "l" (nor does "instances"), and
        # each of true, false and null holds one: two one-byte scans (memchr)
        # answer most numeric bodies, where the two word searches took 19 µs
        # for 100 rows of 20 numbers.
        if b"u" not in raw and b"l" not in raw:
            return cls(may_hold_booleans=False, numbers_only=_two_quotes(raw))
        return cls(may_hold_booleans=b"true" in raw or b"false" in raw, numbers_only=False)


def _two_quotes(raw: bytes) -> bool:
    """Whether ``raw`` holds exactly two ``"``: three memchr scans, where
    counting them walks every byte (9 µs for 100 rows of 20 numbers)."""
    first = raw.find(b'"')
    second = raw.find(b'"', first + 1) if first >= 0 else -1
    return second >= 0 and raw.find(b'"', second + 1) < 0


async def _explain(request: Request, model_name: str, version_name: str | None) -> Response:
    with request.app.state.metrics.explaining(model_name, version_name) as outcome:
        try:
            body, _, _ = await _instances_body(request)
            answer = await call(
                _engine(request).explain,
                model_name,
                body["instances"],
                version=version_name,
                project=_project(request),
            )
        except MlnbError as e:
            outcome["code"] = e.http
            raise
        outcome["code"] = 200
        return json_response(answer)


async def _evaluate(request: Request, model_name: str, version_name: str | None) -> Response:
    """mlnb's ``:evaluate``: the version measured on the request's labelled rows, kept."""
    body = await read_object(request, schemas.EVALUATE, "request")
    if isinstance(body.get("instances"), list) and len(body["instances"]) > MAX_INSTANCES:
        raise InvalidArgument(
            f"{len(body['instances'])} rows in one request; the most allowed is {MAX_INSTANCES}"
        )
    record = await call(
        _engine(request).evaluate,
        model_name,
        {"instances": body.get("instances"), "targets": body.get("targets")},
        version=version_name,
        task=body.get("task"),
        dataset=body.get("dataset"),
        store=body.get("store", True) is not False,
        project=_project(request),
    )
    return json_response(record.to_api())


async def evaluations(request: Request) -> Response:
    """mlnb's list of a version's evaluations, newest first."""
    engine, project = _engine(request), _project(request)
    model_name = _name("model", request.path_params["model"])
    name = _name("version", request.path_params["version"])
    await call(engine.get_version, model_name, name, project=project)  # NotFound first
    records = await call(engine.list_evaluations, model_name, version=name, project=project)
    return json_response({"evaluations": [r.to_api() for r in records]})


async def baseline(request: Request) -> Response:
    """mlnb's baseline of a version: GET it, PUT it from training instances."""
    engine, project = _engine(request), _project(request)
    model_name = _name("model", request.path_params["model"])
    name = _name("version", request.path_params["version"])
    if request.method == "PUT":
        body = await read_object(request, schemas.BASELINE, "baseline")
        served = int(body["servedInstances"]) if body.get("servedInstances") is not None else None
        if served is None and (not isinstance(body.get("instances"), list) or not body["instances"]):
            raise InvalidArgument(
                'Send {"instances": [...]}: the training instances (a sample of them), '
                'or {"servedInstances": N}: the first N the version answered'
            )
        if len(body.get("instances") or []) > MAX_INSTANCES:
            raise InvalidArgument(f"At most {MAX_INSTANCES} instances in one baseline")
        answer = await call(
            engine.set_baseline,
            model_name,
            body.get("instances"),
            version=name,
            source=body.get("source") or (None if served is not None else "the request's instances"),
            alerting=body.get("alerting"),
            served=served,
            project=project,
        )
        return json_response(answer)
    found = await call(engine.get_baseline, model_name, version=name, project=project)
    if found is None:
        raise NotFound(f"Version {name!r} of model {model_name!r} has no baseline")
    return json_response(found)


async def drift(request: Request) -> Response:
    """mlnb's drift of what a version served, from its baseline (``?last=N`` requests)."""
    engine, project = _engine(request), _project(request)
    model_name = _name("model", request.path_params["model"])
    name = _name("version", request.path_params["version"])
    last = whole_number(request.query_params.get("last", "1000"), "last")
    answer = await call(engine.drift, model_name, version=name, last=last, project=project)
    return json_response(answer)


async def _predict(request: Request, model_name: str, version_name: str | None) -> Response:
    with request.app.state.metrics.predicting(model_name, version_name) as outcome:
        routing_key = request.headers.get("x-mlnb-routing-key") or None
        try:
            body, text, reread = await _instances_body(request)
            if version_name is None:
                routing_key = await _routing_key(request, model_name, body, routing_key)
            each = _per_instance(request)
            if each:
                answer = await call(
                    _engine(request).predict_each,
                    model_name,
                    body["instances"],
                    version=version_name,
                    signature_name=body.get("signature_name"),
                    parameters=_parameters(body),
                    routing_key=routing_key,
                    project=_project(request),
                )
                answered = answer["version"]
            else:
                predictions, answered = await _batched(
                    request, model_name, version_name, body, routing_key, text, reread
                )
                answer = {"predictions": predictions}
        except MlnbError as e:
            outcome["code"] = e.http
            raise
        outcome["code"], outcome["instances"], outcome["answered"] = 200, len(answer["predictions"]), answered
        # mlnb's: which version answered (a traffic split or an alias chose it).
        return json_response(answer, headers={"X-Mlnb-Version": answered})


async def _routing_key(
    request: Request, model_name: str, body: dict[str, Any], header: str | None
) -> str | None:
    """The header's routing key, else the value of the model's
    ``routingKeyField`` in the body (taken out: the model never sees it)."""
    engine, project = _engine(request), _project(request)
    known, field = engine.known_routing_key_field(model_name, project=project)
    if not known:
        field = await call(engine.routing_key_field, model_name, project=project)
    if field is None or field not in body:
        return header
    value = body.pop(field)
    return header if header is not None else (str(value) if value is not None else None)


def _parameters(body: dict[str, Any]) -> dict[str, Any]:
    """A predict request's other fields, which ML Engine hands to a custom
    prediction routine's ``predict(instances, **kwargs)``."""
    return {k: v for k, v in body.items() if k not in ("instances", "signature_name")}


async def _batched(
    request: Request,
    model_name: str,
    version_name: str | None,
    body: dict[str, Any],
    routing_key: str | None,
    text: BodyText,
    reread: Callable[[], list[Any]],
) -> tuple[list[Any], str]:
    """The predictions, batched with concurrent requests to the same
    version, and the name of the version that answered. ``body`` gives up
    its instances."""
    engine, project = _engine(request), _project(request)
    signature = body.get("signature_name")
    parameters = _parameters(body)
    # Known without a database read except the first time (and once a TTL,
    # in the background): requests for the default and for its name share
    # a lane, under the version's own batch settings.
    known = engine.known_serving_version(model_name, version_name, routing_key=routing_key, project=project)
    # Checked (and decoded) alone first, once: a bad request fails by
    # itself, never a batch, and the batch's model call checks nothing again.
    # For a version that takes arrays, numbers are kept as the array only:
    # the lists they parsed into are freed now, not after the batch.
    instances = engine.check_instances(
        body.pop("instances"),
        may_hold_booleans=text.may_hold_booleans,
        numbers_only=text.numbers_only,
        reread=reread if known is not None and engine.takes_arrays(known) else None,
    )
    record = known or await call(
        engine.serving_version, model_name, version_name, routing_key=routing_key, project=project
    )
    batcher = request.app.state.batcher
    max_batch_size, max_wait_s = record.batch_settings(batcher.max_instances)

    def predict(batch: Any) -> list[Any]:
        result: list[Any] = engine.predict_gathered(
            model_name,
            batch,
            version=record.name,
            signature_name=signature,
            parameters=parameters,
            project=project,
        )
        return result

    # Only requests that ask the same of the model share its calls.
    asked = orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS) if parameters else b""
    key = (record.resource_name, record.artifact_uri, signature, asked)
    ready = functools.partial(engine.ready_to_predict, record)
    # Each request counted for the version that answered it, with its time
    # in the batcher (what its caller waited), as a rollout reads them.
    started = time.perf_counter()
    try:
        predictions = await batcher.predict(key, instances, predict, max_batch_size, max_wait_s, ready)
    except Exception:
        engine.note_served(model_name, record.name, time.perf_counter() - started, True, project=project)
        raise
    engine.note_served(model_name, record.name, time.perf_counter() - started, False, project=project)
    if version_name is None:
        engine.shadow(record, instances, predictions)  # a request to the model: its shadow's share
    return predictions, record.name


def _per_instance(request: Request) -> bool:
    """The opt-in per-instance mode: ``?perInstance=true`` or the header
    ``X-Mlnb-Per-Instance: true``."""
    # The query string parsed only when there is one: most requests have none.
    query = request.query_params.get("perInstance") if request.scope.get("query_string") else None
    flag = query or request.headers.get("x-mlnb-per-instance") or ""
    return flag.lower() in ("1", "true", "yes")


async def operations(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    records = await call(engine.list_operations, project=project)
    return _listed(request, "operations", [o.to_api() for o in records])


async def operation(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    name, verb = _split(request.path_params["operation"])
    name = validate_operation_id(name)
    if request.method == "POST" and verb == "cancel":
        await call(engine.cancel_operation, name, project=project)
        return json_response({})
    if verb is not None:
        raise NotFound(f"No such method: {request.url.path}")
    return json_response((await call(engine.get_operation, name, project=project)).to_api())


async def jobs(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    if request.method == "POST":
        body = await read_object(request, schemas.JOB, "job")
        job_id = _name("job", str(body.get("jobId", "")))
        await _check_job_body(request, body, "job")
        record = await call(engine.submit_job_body, job_id, body, project=project)
        return json_response(record.to_api())
    return _listed(request, "jobs", [j.to_api() for j in await call(engine.list_jobs, project=project)])


async def _check_job_body(request: Request, body: dict[str, Any], where: str) -> None:
    """What the server refuses of a Job body (a job's or a schedule's
    template) before the Engine reads it: code run by a caller who is no
    developer, and files outside the server's allowed roots."""
    if body.get("jobKind"):
        _require_developer(request, f"A {body['jobKind']} job runs a plug-in's code")
        return
    if body.get("predictionInput"):
        prediction_input = body["predictionInput"]
        check_body(prediction_input, schemas.PREDICTION_INPUT, f"{where}.predictionInput")
        _check_locations(request, "predictionInput.inputPaths", prediction_input.get("inputPaths") or [])
        _check_locations(request, "predictionInput.outputPath", [prediction_input.get("outputPath")])
        if prediction_input.get("uri"):
            _check_locations(request, "predictionInput.uri", [prediction_input["uri"]])
            await _check_model_code(request, prediction_input["uri"], [], None)
        return
    notebook_input = body.get("notebookInput")
    if isinstance(notebook_input, dict) and notebook_input.get("notebook"):
        _require_developer(request, "A notebook job runs its notebook's code")
        _check_locations(request, "notebookInput.notebook", [notebook_input["notebook"]])
        _check_locations(request, "notebookInput.jobDir", [notebook_input.get("jobDir")])
        return
    training_input = body.get("trainingInput")
    if not isinstance(training_input, dict):
        raise InvalidArgument(
            "A job needs trainingInput (a training job), predictionInput (batch prediction), "
            "notebookInput (a notebook job) or jobKind and jobInput (a plug-in's kind)"
        )
    _require_developer(request, "A training job runs its trainer's code")
    _check_locations(request, "trainingInput.packageUris", _listed_strings(training_input.get("packageUris")))
    _check_locations(request, "trainingInput.jobDir", [training_input.get("jobDir")])


async def schedules(request: Request) -> Response:
    """mlnb's ``projects.schedules``: list, and create (``?scheduleId=``)."""
    engine, project = _engine(request), _project(request)
    if request.method == "POST":
        body = await read_object(request, schemas.SCHEDULE, "schedule")
        given = request.query_params.get("scheduleId")
        parent = f"projects/{project}"
        name = _name("schedule", given) if given else resource_leaf("schedule", body.get("name"), parent)
        await _check_template(request, body.get("jobTemplate"))
        record = await call(engine.create_schedule, name, body, project=project)
        return json_response(record.to_api())
    found = await call(engine.list_schedules, project=project)
    return _listed(request, "schedules", [s.to_api() for s in found])


async def schedule(request: Request) -> Response:
    """One schedule: get, patch (``?updateMask=``), delete, and the verbs
    ``:pause``, ``:resume`` and ``:run`` (its job now)."""
    engine, project = _engine(request), _project(request)
    name, verb = _split(request.path_params["schedule"])
    name = _name("schedule", name)
    if request.method == "POST":
        if verb == "pause":
            return json_response((await call(engine.pause_schedule, name, project=project)).to_api())
        if verb == "resume":
            return json_response((await call(engine.resume_schedule, name, project=project)).to_api())
        if verb == "run":
            current = await call(engine.get_schedule, name, project=project)
            await _check_template(request, current.spec.get("jobTemplate") or {})
            return json_response((await call(engine.run_schedule, name, project=project)).to_api())
        raise NotFound(f"No such method: {request.url.path}")
    if verb is not None:
        raise NotFound(f"No such method: {request.url.path}")
    if request.method == "PATCH":
        body = await read_object(request, schemas.SCHEDULE, "schedule")
        mask = (request.query_params.get("updateMask") or "").split(",")
        if "jobTemplate" in mask:
            await _check_template(request, body.get("jobTemplate"))
        record = await call(engine.update_schedule, name, body, mask, project=project)
        return json_response(record.to_api())
    if request.method == "DELETE":
        await call(engine.delete_schedule, name, project=project)
        return json_response({})
    return json_response((await call(engine.get_schedule, name, project=project)).to_api())


async def _check_template(request: Request, template: Any) -> None:
    """A schedule's job template, refused as a job's body would be (the
    Engine says what is missing from one that is not an object)."""
    if isinstance(template, dict):
        check_body(template, schemas.JOB, "schedule.jobTemplate")
        await _check_job_body(request, template, "schedule.jobTemplate")


async def schedule_runs(request: Request) -> Response:
    """A schedule's runs, newest first, each with its job's state."""
    engine, project = _engine(request), _project(request)
    name = _name("schedule", request.path_params["schedule"])
    runs = await call(engine.schedule_runs, name, limit=_count(request, "limit", 100), project=project)
    return _listed(request, "runs", [run.to_api() for run in runs])


async def job(request: Request) -> Response:
    engine, project = _engine(request), _project(request)
    name, verb = _split(request.path_params["job"])
    name = _name("job", name)
    if request.method == "POST" and verb == "cancel":
        await call(engine.cancel_job, name, project=project)
        return json_response({})
    if verb in _IAM_VERBS:
        await call(engine.get_job, name, project=project)
        return await _iam(request, verb, f"projects/{project}/jobs/{name}")
    if request.method == "GET" and verb == "logs":
        offset = _count(request, "offset", 0)
        size = min(_count(request, "pageSize", LOG_PAGE_SIZE) or LOG_PAGE_SIZE, LOG_PAGE_SIZE)
        read = await call(engine.read_job_log, name, position=offset, limit=size, project=project)
        return json_response(read.to_api())
    if verb is not None:
        raise NotFound(f"No such method: {request.url.path}")
    if request.method == "GET":
        return json_response((await call(engine.get_job, name, project=project)).to_api())
    body = await read_object(request)
    _update_mask(request, {"labels"})
    record = await call(
        engine.update_job, name, labels=body.get("labels") or {}, etag=body.get("etag"), project=project
    )
    return json_response(record.to_api())


_IAM_VERBS = ("getIamPolicy", "setIamPolicy", "testIamPermissions")


async def _iam(request: Request, verb: str, resource: str) -> Response:
    """The IAM methods of models and jobs, from the server's token roles."""
    expected = "GET" if verb == "getIamPolicy" else "POST"
    if request.method != expected:
        raise NotFound(f"No such method: {request.method} {request.url.path}")
    if verb == "getIamPolicy":
        return json_response(iam.policy(_engine(request).settings.tokens))
    body = await read_object(request)
    if verb == "setIamPolicy":
        iam.refuse_set_policy(resource)
    return json_response(iam.granted_permissions(_role(request), body))


LOCATION = "local"


async def locations(request: Request) -> Response:
    project = _project(request)
    return json_response({"locations": [await _location(request, project)]})


async def location(request: Request) -> Response:
    project = _project(request)
    _known_location(request)
    return json_response(await _location(request, project))


async def location_operation(request: Request) -> Response:
    """``projects.locations.operations``: the project's operations, for
    its one location."""
    _known_location(request)
    return await operation(request)


def _known_location(request: Request) -> None:
    name = request.path_params["location"]
    if name != LOCATION:
        raise NotFound(f"Location {name!r} does not exist; this server has one: {LOCATION!r}")


async def _location(request: Request, project: str) -> dict[str, Any]:
    """This server's one location and what it can do: its GPUs are those
    of the machine it runs on (a Dask cluster's are not listed)."""
    accelerators = sorted(set(await call(_engine(request).accelerators)))
    gpus = {"availableAccelerators": accelerators} if accelerators else {}
    return {
        "name": f"projects/{project}/locations/{LOCATION}",
        "capabilities": [
            {"type": "TRAINING", **gpus},
            {"type": "BATCH_PREDICTION"},
            {"type": "ONLINE_PREDICTION", **gpus},
        ],
    }


def _role(request: Request) -> str | None:
    """The caller's role; ``None`` on a server without tokens (its owner)."""
    return getattr(request.state, "role", None)


def _require_developer(request: Request, why: str) -> None:
    """Refuse a request that runs code on the server unless the caller is
    a developer (or the owner of a server without tokens)."""
    role = _role(request)
    if role not in (None, "developer"):
        raise PermissionDenied(f"{why} on the server: an {role} token may not; it needs a developer token")


def _check_locations(request: Request, field: str, locations: list[Any]) -> None:
    policy = request.app.state.locations
    if policy is not None:
        policy.check_all(locations, field)


async def _check_model_code(
    request: Request, origin: str, package_uris: list[str], prediction_class: str | None
) -> None:
    """A model whose loading runs code it carries needs a developer."""
    if _role(request) in (None, "developer"):
        return
    reason = await call(
        _engine(request).model_runs_code, origin, package_uris=package_uris, prediction_class=prediction_class
    )
    if reason is not None:
        _require_developer(request, f"Loading {origin!r} runs code ({reason})")


def _listed_strings(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _count(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    return default if text is None else whole_number(text, name)


def _update_mask(request: Request, allowed: set[str]) -> set[str]:
    mask = {f.strip() for f in (request.query_params.get("updateMask") or "").split(",") if f.strip()}
    if not mask:
        raise InvalidArgument(f"updateMask is required: one or more of {', '.join(sorted(allowed))}")
    unknown = mask - allowed
    if unknown:
        raise InvalidArgument(f"updateMask names fields that cannot change: {', '.join(sorted(unknown))}")
    return mask


def _listed(request: Request, key: str, bodies: list[dict[str, Any]]) -> Response:
    """One page of the resources that pass the request's filter."""
    accept = matches_filter(request.query_params.get("filter"))
    items, token = page(request, [b for b in bodies if accept(b)])
    listing: dict[str, Any] = {key: list(items)}
    if token:
        listing["nextPageToken"] = token
    return json_response(listing)


_MODEL = Route("/v1/projects/{project}/models/{model}", model, methods=["GET", "PATCH", "DELETE", "POST"])
_VERSION = Route(
    "/v1/projects/{project}/models/{model}/versions/{version}",
    version,
    methods=["GET", "PATCH", "DELETE", "POST"],
)
# The routes of ``:predict`` requests, which take a short way to their
# endpoint (``mlnb.server.predict_path``).
PREDICT_ROUTES = (_MODEL, _VERSION)

ROUTES = [
    Route("/v1/projects/{project}", project_root, methods=["GET"]),
    Route("/v1/projects/{project}/models", models, methods=["GET", "POST"]),
    _MODEL,
    Route("/v1/projects/{project}/models/{model}/versions", versions, methods=["GET", "POST"]),
    _VERSION,
    Route(
        "/v1/projects/{project}/models/{model}/versions/{version}/evaluations", evaluations, methods=["GET"]
    ),
    Route(
        "/v1/projects/{project}/models/{model}/versions/{version}/baseline", baseline, methods=["GET", "PUT"]
    ),
    Route("/v1/projects/{project}/models/{model}/versions/{version}/drift", drift, methods=["GET"]),
    Route("/v1/projects/{project}/operations", operations, methods=["GET"]),
    Route("/v1/projects/{project}/operations/{operation}", operation, methods=["GET", "POST"]),
    Route("/v1/projects/{project}/jobs", jobs, methods=["GET", "POST"]),
    Route("/v1/projects/{project}/jobs/{job}", job, methods=["GET", "PATCH", "POST"]),
    Route("/v1/projects/{project}/schedules", schedules, methods=["GET", "POST"]),
    Route(
        "/v1/projects/{project}/schedules/{schedule}", schedule, methods=["GET", "PATCH", "DELETE", "POST"]
    ),
    Route("/v1/projects/{project}/schedules/{schedule}/runs", schedule_runs, methods=["GET"]),
    Route("/v1/projects/{project}/locations", locations, methods=["GET"]),
    Route("/v1/projects/{project}/locations/{location}", location, methods=["GET"]),
    Route(
        "/v1/projects/{project}/locations/{location}/operations/{operation}",
        location_operation,
        methods=["GET", "POST"],
    ),
]
