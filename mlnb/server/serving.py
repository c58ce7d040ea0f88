"""Running the app on uvicorn, with one process or several.

With several worker processes uvicorn binds the listening socket itself
with protocol 0, so asyncio does not set TCP_NODELAY on the connections it
accepts (it only does for sockets that say IPPROTO_TCP), and every
keep-alive answer waits for Nagle's algorithm: about 40 ms. The socket is
bound here instead, as a TCP socket, so that each connection gets
TCP_NODELAY."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from pathlib import Path

from mlnb.config import Settings
from mlnb.server.metrics import MULTIPROCESS_DIR_ENV
from mlnb.server.workers import RUN_DIR_ENV

_APP_FACTORY = "mlnb.server.app:app_from_environment"


def tcp_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (not yet listening) that worker processes inherit."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve until interrupted; worker processes read the settings from
    ``MLNB_*`` variables."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ.update(settings.to_env())
    config = uvicorn.Config(
        _APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="warning"
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    # The workers' slot locks and shared metrics live in a folder of this run.
    with tempfile.TemporaryDirectory(prefix="mlnb-server-") as run_dir:
        metrics_dir = Path(run_dir) / "metrics"
        metrics_dir.mkdir()
        os.environ[RUN_DIR_ENV] = run_dir
        os.environ[MULTIPROCESS_DIR_ENV] = str(metrics_dir)
        Multiprocess(config, sockets=[tcp_socket(host, port)]).run()
