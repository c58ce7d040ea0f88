"""Free TCP ports, for replicas that listen and services that start."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (each replica listens on its own)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """One port free on 127.0.0.1 now."""
    return free_ports(1)[0]
