"""The sidebar's HTTP API, under Jupyter's authentication (token or login
cookie) and XSRF rules: every handler is an ``APIHandler`` method marked
``authenticated``. Engine calls block (database, files), so they run in
threads, off the server's event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from mlnb.errors import InvalidArgument, MlnbError
from mlnb.labserver.feed import SidebarFeed
from mlnb.labserver.views import (
    job_view,
    jobs_view,
    models_view,
    schedule_view,
    server_view,
    sidebar_state,
    tensorboards_view,
)
from mlnb.naming import whole_number

if TYPE_CHECKING:
    from mlnb.api import Engine

_NAME = r"[A-Za-z][A-Za-z0-9_]{0,127}"
# The most log entries one answer carries (a long log comes in pages).
LOG_PAGE_SIZE = 5000


def jupyter_root(settings: dict[str, Any]) -> Path:
    """Jupyter's root folder (``server_root_dir``), where notebooks open from."""
    return Path(settings.get("server_root_dir") or ".").expanduser()


class _MlnbHandler(APIHandler):
    """Runs an Engine call in a thread and answers its JSON; an mlnb error
    answers its HTTP status with Google's error body, as the REST server
    does (``{"error": {"code", "message", "status"}}``)."""

    @property
    def engine(self) -> Engine:
        engine: Engine = self.settings["mlnb_engine"]
        return engine

    @property
    def root(self) -> Path:
        return jupyter_root(self.settings)

    async def call(self, function: Any, *args: Any, **kwargs: Any) -> None:
        await self.answer(asyncio.to_thread(function, *args, **kwargs))

    async def answer(self, pending: Awaitable[Any]) -> None:
        try:
            result = await pending
        except MlnbError as e:
            self.set_status(e.http)
            self.finish(json.dumps(e.to_json()))
            return
        self.finish(json.dumps(result, default=str))

    def instances(self) -> list[Any]:
        """The ``instances`` list of a predict or explain body."""
        instances = self.body().get("instances")
        if not isinstance(instances, list):
            raise InvalidArgument('Send {"instances": [...]}: a JSON list of instances')
        return instances

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError as e:
            raise InvalidArgument(f"The request body is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise InvalidArgument("The request body must be a JSON object")
        return data


class ModelsHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.call(models_view, self.engine)


class SetDefaultHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def post(self, model: str, version: str) -> None:
        await self.call(lambda: self.engine.set_default_version(model, version).to_api())


class VersionHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def delete(self, model: str, version: str) -> None:
        await self.call(lambda: self.engine.delete_version_operation(model, version).to_api())


class PredictHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def post(self, model: str, version: str) -> None:
        await self.call(
            lambda: {"predictions": self.engine.predict(model, self.instances(), version=version)}
        )


class ExplainHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def post(self, model: str, version: str) -> None:
        await self.call(lambda: self.engine.explain(model, self.instances(), version=version))


class JobsHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        given = self.get_query_argument("limit", "50")

        await self.call(lambda: jobs_view(self.engine, self.root, whole_number(given, "limit")))


class JobHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def get(self, job: str) -> None:
        await self.call(lambda: job_view(self.engine.get_job(job), self.root))


class CancelJobHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def post(self, job: str) -> None:
        await self.call(lambda: job_view(self.engine.cancel_job(job), self.root))


class JobLogsHandler(_MlnbHandler):
    """A page of the log entries after ``offset`` (a position the previous
    answer gave), as the REST server's ``jobs.logs`` answers it
    (``entries``, ``nextOffset``, ``jobEnded``): the logs tab asks again
    from ``nextOffset`` until a page of an ended job comes back short."""

    @tornado.web.authenticated
    async def get(self, job: str) -> None:
        given = self.get_query_argument("offset", "0")

        def read() -> dict[str, Any]:
            offset = whole_number(given, "offset")
            return self.engine.read_job_log(job, position=offset, limit=LOG_PAGE_SIZE).to_api()

        await self.call(read)


class ServerHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.call(server_view, self.engine)

    @tornado.web.authenticated
    async def post(self, action: str) -> None:
        def act() -> dict[str, Any]:
            if action == "start":
                body = self.body()
                # Only a port left out is the default: 0 or "" is a mistake, not 8080.
                given = body.get("port")
                port = 8080 if given is None else whole_number(given, "port")
                return {"running": True} | dict(self.engine.start_server(port=port))
            self.engine.stop_server()
            return {"running": False}

        await self.call(act)


class StateHandler(_MlnbHandler):
    """Everything the sidebar shows, pushed when it changes (long polling,
    ``SidebarFeed``): ``?since=TAG`` answers when the state moves past the
    tag the sidebar shows, or after a while with the same tag; no ``since``
    answers a fresh read at once."""

    @tornado.web.authenticated
    async def get(self) -> None:
        since = self.get_query_argument("since", None)
        feed: SidebarFeed = self.settings["mlnb_feed"]
        await self.answer(feed.next(since))


class TensorBoardsHandler(_MlnbHandler):
    """The home's running TensorBoards, each with ``proxyPath``: where
    jupyter-server-proxy serves it under this Jupyter server (``proxy/PORT/``,
    relative to the server's base URL), so that a browser that reaches
    Jupyter reaches TensorBoard, under Jupyter's authentication."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.call(lambda: {"tensorboards": tensorboards_view(self.engine)})


class StopTensorBoardHandler(_MlnbHandler):
    @tornado.web.authenticated
    async def post(self, port: str) -> None:
        def stop() -> dict[str, Any]:
            self.engine.stop_tensorboard(whole_number(port, "port"))
            return {"tensorboards": tensorboards_view(self.engine)}

        await self.call(stop)


class ScheduleActionHandler(_MlnbHandler):
    """``POST schedules/NAME/pause|resume|run``: the schedule as it is then
    (``run`` answers the job it submitted, as ``job_view`` has it)."""

    @tornado.web.authenticated
    async def post(self, schedule: str, action: str) -> None:
        def act() -> dict[str, Any]:
            if action == "run":
                return job_view(self.engine.run_schedule(schedule), self.root)
            if action == "pause":
                self.engine.pause_schedule(schedule)
            else:
                self.engine.resume_schedule(schedule)
            return schedule_view(self.engine, schedule)

        await self.call(act)


def setup_handlers(serverapp: Any) -> None:
    """Create the Engine (from MLNB_* and $MLNB_HOME, as every face does)
    and route ``/mlnb/api/...``."""
    from mlnb.api import Engine

    web_app = serverapp.web_app
    engine = Engine()
    web_app.settings["mlnb_engine"] = engine
    root = jupyter_root(web_app.settings)
    web_app.settings["mlnb_feed"] = SidebarFeed(lambda: sidebar_state(engine, root))
    base = url_path_join(web_app.settings["base_url"], "mlnb", "api")
    version = rf"/models/(?P<model>{_NAME})/versions/(?P<version>{_NAME})"
    routes = [
        ("/models", ModelsHandler),
        (f"{version}/default", SetDefaultHandler),
        (f"{version}/predict", PredictHandler),
        (f"{version}/explain", ExplainHandler),
        (version, VersionHandler),
        ("/state", StateHandler),
        ("/jobs", JobsHandler),
        (rf"/jobs/(?P<job>{_NAME})", JobHandler),
        (rf"/jobs/(?P<job>{_NAME})/cancel", CancelJobHandler),
        (rf"/jobs/(?P<job>{_NAME})/logs", JobLogsHandler),
        (rf"/schedules/(?P<schedule>{_NAME})/(?P<action>pause|resume|run)", ScheduleActionHandler),
        ("/server", ServerHandler),
        ("/server/(?P<action>start|stop)", ServerHandler),
        ("/tensorboards", TensorBoardsHandler),
        (r"/tensorboards/(?P<port>[0-9]{1,5})/stop", StopTensorBoardHandler),
    ]
    web_app.add_handlers(".*$", [(base + path, handler) for path, handler in routes])
    serverapp.log.info("mlnb: the sidebar's API is at %s", base)
