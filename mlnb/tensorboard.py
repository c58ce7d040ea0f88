"""TensorBoard processes of an mlnb home, started in the background like
the REST server (``local_server``) and kept in state files under the home's
``run`` folder, so that another kernel or shell can list and stop them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from mlnb.config import Settings
from mlnb.errors import MissingExtra
from mlnb.jobs import absolute_location
from mlnb.local_server import process_alive, start_service, stop_service
from mlnb.runtime.ports import free_port

# TensorBoard reads files through TensorFlow's file systems when TensorFlow
# is installed, and those know no s3:// or abfs:// without tensorflow-io.
# Its own reader (boto3 for s3://, fsspec for every other scheme, as mlnb's
# artifact store) is used when ``tensorboard.compat.notf`` can be imported:
# an object-store log folder is read that way.
_WITHOUT_TENSORFLOW = (
    "import sys, types; "
    "sys.modules['tensorboard.compat.notf'] = types.ModuleType('tensorboard.compat.notf'); "
    "from tensorboard.main import run_main; run_main()"
)


def _folder(settings: Settings) -> Path:
    return settings.paths.run / "tensorboard"


def running(settings: Settings) -> list[dict[str, Any]]:
    """The live TensorBoards of this home (state files of dead ones go)."""
    boards = []
    for path in sorted(_folder(settings).glob("*.json")):
        board = orjson.loads(path.read_bytes())
        if process_alive(int(board["pid"])):
            boards.append(board)
        else:
            path.unlink(missing_ok=True)
    return boards


def start(settings: Settings, logdir: str, port: int | None = None) -> dict[str, Any]:
    """Start TensorBoard on ``logdir`` (one already on it is reused) and
    wait until it answers.

    Raises:
        MissingExtra: TensorBoard is not installed.
        Unavailable: It did not start in time.
    """
    try:
        import tensorboard  # noqa: F401
    except ImportError as e:
        raise MissingExtra("TensorBoard", "notebook", "tensorboard") from e
    where = absolute_location(logdir)
    for board in running(settings):
        if board["logdir"] == where and port in (None, board["port"]):
            return dict(board)
    port = port or free_port()
    folder = _folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{port}.log"
    reader = ["-c", _WITHOUT_TENSORFLOW] if "://" in where else ["-m", "tensorboard.main"]
    command = [sys.executable, *reader, "--logdir", where]
    command += ["--port", str(port), "--host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    pid = start_service(command, log_path, url, "TensorBoard")
    board = {"url": url, "port": port, "logdir": where, "pid": pid, "log": str(log_path)}
    (folder / f"{port}.json").write_bytes(orjson.dumps(board))
    return board


def stop(settings: Settings, port: int | None = None) -> list[dict[str, Any]]:
    """Stop the TensorBoard on ``port``, or all of this home's."""
    stopped = []
    for board in running(settings):
        if port is not None and board["port"] != port:
            continue
        stop_service(int(board["pid"]), grace_s=5.0)
        (_folder(settings) / f"{board['port']}.json").unlink(missing_ok=True)
        stopped.append(board)
    return stopped


def through_jupyter(port: int) -> str | None:
    """TensorBoard's address through the Jupyter server that started this
    kernel, where jupyter-server-proxy serves ``proxy/PORT/`` under
    Jupyter's own address and authentication; ``None`` outside a kernel of
    a Jupyter server or without jupyter-server-proxy.

    A kernel knows its server by ``JPY_PARENT_PID`` (set by
    jupyter_client), and the server's address from the ``jpserver-PID.json``
    file it writes in Jupyter's runtime folder.
    """
    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return None
    try:
        import jupyter_server_proxy  # type: ignore[import-untyped]  # noqa: F401
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    try:
        info = json.loads((Path(jupyter_runtime_dir()) / f"jpserver-{parent}.json").read_text())
    except (OSError, ValueError):
        return None
    url = info.get("url") if isinstance(info, dict) else None
    return f"{url.rstrip('/')}/proxy/{port}/" if isinstance(url, str) and url else None
