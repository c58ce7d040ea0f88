"""The warm parent of batch prediction workers (see ``mlnb.runtime.warm``):
``python -m mlnb.runtime.warm_parent FD MODULE...`` imports the modules,
then forks a child for each request that arrives on the socket ``FD`` and
reports its pid and its exit status there, until the job host's end of the
socket closes."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import orjson

from mlnb.runtime.processes import arm_parent_death_signal
from mlnb.runtime.warm_protocol import MAX_MESSAGE


def _serve(channel: socket.socket, libraries: Sequence[str]) -> None:
    """Import the libraries, then start a child for each request and report
    its end, until the host's end of ``channel`` closes."""
    for library in libraries:
        try:
            __import__(library)
        except ImportError:
            pass  # not installed: its models' workers import nothing more
        except Exception:  # a broken library must not stop the warm parent
            traceback.print_exc()
    # SIGCHLD wakes the select below through a pipe, so that an exit is
    # reported at once.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda _number, _frame: None)
    me = os.getpid()
    while True:
        ready, _, _ = select.select([channel.fileno(), wake_read], [], [])
        if wake_read in ready:
            os.read(wake_read, 4096)
        _report_ended(channel)
        if channel.fileno() not in ready:
            continue
        message, fds, _flags, _address = socket.recv_fds(channel, MAX_MESSAGE, 2)
        if not message:
            return  # the host ended: leaving kills the children
        request = orjson.loads(message)
        try:
            pid = os.fork()
        except OSError as e:
            for fd in fds:
                os.close(fd)
            channel.send(orjson.dumps({"request": request["request"], "error": str(e)}))
            continue
        if pid == 0:
            _become_child(request, fds, me, [channel.fileno(), wake_read, wake_write])
        for fd in fds:
            os.close(fd)
        channel.send(orjson.dumps({"request": request["request"], "pid": pid}))


def _report_ended(channel: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        channel.send(orjson.dumps({"ended": pid, "status": os.waitstatus_to_exitcode(status)}))


def _become_child(request: dict[str, Any], fds: list[int], parent: int, parent_fds: list[int]) -> None:
    """In the forked child: become ``python -m module arguments`` as the
    host asked, and leave with its exit status."""
    code = 1
    try:
        os.setpgid(0, 0)
        arm_parent_death_signal(parent)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in parent_fds:
            os.close(fd)
        stdout, stderr = fds
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.close(stdout)
        os.close(stderr)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        # Streams on the new descriptors, line-buffered as a replica's log
        # is read line by line.
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (lives as long as the child)
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["module"], *request["arguments"]]
        sys.path[0] = request["cwd"]  # as ``python -m`` puts the working folder first
        code = _run_module(request["module"])
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run_module(module: str) -> int:
    import runpy

    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def main(argv: list[str]) -> int:
    # Started by ``_WarmParent``: FD (its end of the socket pair), then the
    # modules to import.
    channel = socket.socket(fileno=int(argv[0]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal host reaches the host
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        _serve(channel, argv[1:])
    return 0  # the host ended: leaving kills the children


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
