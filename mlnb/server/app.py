"""The ASGI app: ``create_app(settings)``, no globals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import MlnbError
from mlnb.locations import LocationPolicy
from mlnb.server.access import TokenAccess, check_tokens
from mlnb.server.batching import Batcher
from mlnb.server.errors import error_response, mlnb_error
from mlnb.server.heap import HeapFreezer
from mlnb.server.json import json_response
from mlnb.server.metrics import ServerMetrics, drift_exposition
from mlnb.server.predict_path import PredictPath
from mlnb.server.routes import PREDICT_ROUTES, ROUTES
from mlnb.server.workers import WorkerSlot, keep_versions_loaded

_CANONICAL = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "INVALID_ARGUMENT"}


async def healthz(_request: Request) -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness, for load balancers: 200 once this process has loaded the
    versions its scaling keeps loaded and every model's default; 503 until then."""
    if not request.app.state.ready.is_set():
        return error_response(503, "Loading the versions to serve", "UNAVAILABLE")
    return json_response({"status": "ready", "loadedVersions": request.app.state.engine.loaded_versions()})


async def metrics(request: Request) -> Response:
    checks = await run_in_threadpool(request.app.state.engine.drift_checks)
    body = request.app.state.metrics.render() + drift_exposition(checks)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def http_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise exc
    return error_response(
        exc.status_code, str(exc.detail), _CANONICAL.get(exc.status_code, "INVALID_ARGUMENT")
    )


def app_from_environment() -> Starlette:
    """The app of one of several uvicorn worker processes, whose settings
    come from ``MLNB_*`` variables (``mlnb server --workers N`` sets them)."""
    return create_app(Settings.resolve(), freeze_heap=True)


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, freeze_heap: bool = False
) -> Starlette:
    """The REST server over one Engine (built from ``settings`` when not given),
    behind the access tokens of its settings. ``freeze_heap`` (the server's
    own process: ``mlnb server``) keeps long-lived objects out of the
    garbage collector's passes (``mlnb.server.heap``); a process that only
    embeds the app keeps its collector as it is.

    Raises:
        InvalidArgument: The tokens setting names an unknown role or a short token.
    """
    owned = engine is None  # then this app closes it: pending prediction log entries are sent
    engine = engine or Engine(settings)
    check_tokens(engine.settings.tokens)  # a bad setting fails here, not at the first request

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        slot = WorkerSlot.claim()
        stop = asyncio.Event()
        freezer = HeapFreezer(engine.loaded_changes) if freeze_heap else None

        def after_loads() -> None:
            if freezer is not None:
                freezer.after_loads()
            app.state.metrics.note_loaded(freezer.frozen_objects if freezer is not None else 0)

        warmer = asyncio.create_task(keep_versions_loaded(engine, slot, stop, after_loads, app.state.ready))
        try:
            yield
        finally:
            stop.set()
            await warmer
            if freezer is not None:
                freezer.release()
            slot.release()
            ServerMetrics.process_exits()
            if owned:
                await asyncio.to_thread(engine.close)

    handlers = {MlnbError: mlnb_error, HTTPException: http_error}
    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics), *ROUTES],
        exception_handlers=handlers,
        middleware=[
            Middleware(TokenAccess, tokens=engine.settings.tokens),
            Middleware(PredictPath, routes=PREDICT_ROUTES, handlers=handlers),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    settings = engine.settings
    # A server with tokens serves several people: their requests may name
    # only locations under the allowed roots (the owner of a token-less,
    # loopback-only server is trusted with any path).
    app.state.locations = (
        LocationPolicy.of(settings.artifact_root, str(settings.home), settings.allowed_roots)
        if settings.tokens
        else None
    )
    app.state.ready = asyncio.Event()
    app.state.metrics = ServerMetrics(engine.loaded_versions)
    app.state.batcher = Batcher(engine.settings.batch_max_instances, engine.settings.serve_inline_ms / 1000)
    return app
