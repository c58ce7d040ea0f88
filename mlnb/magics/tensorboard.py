"""TensorBoard processes started from notebooks, kept in state files under
the mlnb home so that another kernel can list and stop them."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import orjson

from mlnb.errors import MissingExtra
from mlnb.local_server import process_alive, start_service, stop_service


def _folder(home: Path) -> Path:
    return home / "run" / "tensorboard"


def running(home: Path) -> list[dict[str, Any]]:
    """The live TensorBoards of this home (state files of dead ones go)."""
    boards = []
    for path in sorted(_folder(home).glob("*.json")):
        board = orjson.loads(path.read_bytes())
        if process_alive(int(board["pid"])):
            boards.append(board)
        else:
            path.unlink(missing_ok=True)
    return boards


def start(home: Path, logdir: str, port: int | None = None) -> dict[str, Any]:
    """Start TensorBoard on ``logdir`` (one already on it is reused) and
    wait until it answers.

    Raises:
        MissingExtra: TensorBoard is not installed.
        Unavailable: It did not start in time.
    """
    try:
        import tensorboard  # noqa: F401
    except ImportError as e:
        raise MissingExtra("%ml tensorboard", "notebook", "tensorboard") from e
    where = logdir if "://" in logdir else str(Path(logdir).expanduser().resolve())
    for board in running(home):
        if board["logdir"] == where and port in (None, board["port"]):
            return dict(board)
    port = port or _free_port()
    folder = _folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{port}.log"
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", where]
    command += ["--port", str(port), "--host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    pid = start_service(command, log_path, url, "TensorBoard")
    board = {"url": url, "port": port, "logdir": where, "pid": pid, "log": str(log_path)}
    (folder / f"{port}.json").write_bytes(orjson.dumps(board))
    return board


def stop(home: Path, port: int | None = None) -> list[dict[str, Any]]:
    """Stop the TensorBoard on ``port``, or all of this home's."""
    stopped = []
    for board in running(home):
        if port is not None and board["port"] != port:
            continue
        stop_service(int(board["pid"]), grace_s=5.0)
        (_folder(home) / f"{board['port']}.json").unlink(missing_ok=True)
        stopped.append(board)
    return stopped


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
