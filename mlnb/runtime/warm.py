"""Warm starts: batch prediction workers forked from a process that imported
mlnb's worker and the framework libraries once, instead of a fresh
interpreter importing them for every job (scikit-learn's import alone takes
more than a second on a small machine, XGBoost's two; loading a small model
takes milliseconds).

The *warm parent* (``mlnb.runtime.warm_parent``) is started by the job
host (``warm_up``, or the first warm start) and talks to it over a socket
pair: the host sends a request (module, arguments, environment, folder) with
the two ends of the child's output pipes; the parent forks, answers with
the child's pid, and later with its exit status. It imports its libraries
before it reads the first request, so the first child waits for them and
the later ones do not. A warm child
- leads a process group of its own, as a fresh replica does, so that
  stopping it reaches whatever it started;
- gets SIGKILL when the warm parent ends (Linux's parent-death signal), and
  the warm parent ends as soon as the job host does (the host's end of the
  socket closes): a host killed with -9 takes its warm workers with it, as
  the lifeline does for fresh replicas. The warm parent stays in the host's
  session, so that reaping a dead host's session reaches it too.

Python's forkserver was not used: its children keep the forkserver alive
(each holds the host's end of its liveness pipe), and each re-imports the
host's ``__main__``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from mlnb.runtime.warm_protocol import MAX_MESSAGE

__all__ = ["WarmProcess", "warm_available", "warm_up"]

# The module the warm children run here, imported in the warm parent beside
# the libraries of the settings.
_OWN_IMPORTS = ("mlnb.batch.worker",)
PARENT_MODULE = "mlnb.runtime.warm_parent"
_START_TIMEOUT_S = 300.0  # the first start waits for the libraries' import


def warm_available() -> bool:
    """Whether warm children can be started here (Linux)."""
    return sys.platform.startswith("linux")


def warm_up(libraries: Sequence[str]) -> None:
    """Start the warm parent now, importing ``libraries`` besides mlnb's
    worker (a library that is not installed is skipped); it imports them in
    the background. Only the first start in a process chooses them."""
    if warm_available():
        _parent(libraries)


_running: dict[str, _WarmParent] = {}  # this process's warm parent, once started
_running_lock = threading.Lock()


def _parent(libraries: Sequence[str] = ()) -> _WarmParent:
    """The running warm parent, started when there is none (or it ended)."""
    with _running_lock:
        current = _running.get("parent")
        if current is None or current.gone:
            current = _running["parent"] = _WarmParent(list(libraries))
        return current


class _WarmParent:
    """The host's side of a warm parent: starts children, learns their pid
    and exit status."""

    def __init__(self, libraries: list[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", PARENT_MODULE, str(theirs.fileno()), *_OWN_IMPORTS, *libraries],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        self.socket = ours
        self.gone = False
        self._send_lock = threading.Lock()
        self._changed = threading.Condition()
        self._next_request = 0
        self._started: dict[int, int | str] = {}  # request -> pid, or why it did not start
        self._children: set[int] = set()
        self._ended: dict[int, int] = {}  # pid -> exit status
        threading.Thread(target=self._read, name="mlnb-warm-parent", daemon=True).start()

    def start(self, request: dict[str, Any], stdout: int, stderr: int) -> int:
        """Have a child started; its pid."""
        with self._changed:
            self._next_request += 1
            number = self._next_request
        message = orjson.dumps({**request, "request": number})
        with self._send_lock:
            socket.send_fds(self.socket, [message], [stdout, stderr])
        with self._changed:
            answered = self._changed.wait_for(
                lambda: number in self._started or self.gone, timeout=_START_TIMEOUT_S
            )
            answer = self._started.pop(number, None)
        if isinstance(answer, int):
            return answer
        why = answer or ("the warm parent ended" if answered else "the warm parent did not answer")
        raise OSError(f"Could not start a warm worker: {why}")

    def status(self, pid: int) -> int | None:
        with self._changed:
            return self._ended.get(pid)

    def wait(self, pid: int) -> int:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._ended)
            return self._ended[pid]

    def _read(self) -> None:
        while True:
            try:
                message = self.socket.recv(MAX_MESSAGE)
            except OSError:
                message = b""
            if not message:
                break
            answer = orjson.loads(message)
            with self._changed:
                if "ended" in answer:
                    self._ended[answer["ended"]] = answer["status"]
                elif "pid" in answer:
                    self._started[answer["request"]] = answer["pid"]
                    self._children.add(answer["pid"])
                else:
                    self._started[answer["request"]] = answer["error"]
                self._changed.notify_all()
        # The warm parent ended: its children got SIGKILL with it.
        self.process.wait()
        with self._changed:
            for pid in self._children:
                self._ended.setdefault(pid, -signal.SIGKILL)
            self.gone = True
            self._changed.notify_all()


class WarmProcess:
    """``python -m module arguments`` as a warm child; read it as a
    ``subprocess.Popen`` (``pid``, ``stdout``, ``stderr``, ``poll``,
    ``wait``).

    Raises:
        OSError: The warm parent could not start it.
    """

    def __init__(self, module: str, arguments: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self._parent = _parent()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        request = {"module": module, "arguments": list(arguments), "env": dict(env), "cwd": str(cwd)}
        try:
            self.pid = self._parent.start(request, out_write, err_write)
        except BaseException:
            os.close(out_read)
            os.close(err_read)
            raise
        finally:
            os.close(out_write)
            os.close(err_write)
        self.stdout: IO[bytes] = os.fdopen(out_read, "rb")
        self.stderr: IO[bytes] = os.fdopen(err_read, "rb")

    def poll(self) -> int | None:
        """The exit status once it ended (negative: killed by that signal)."""
        return self._parent.status(self.pid)

    def wait(self) -> int:
        return self._parent.wait(self.pid)
