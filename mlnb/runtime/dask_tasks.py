"""What runs on a Dask worker for an mlnb job: one command (a replica, or
papermill for a notebook job) in a folder of its own, its output sent back
line by line through a Dask queue, stopped when the job's stop event is set
or when the task is abandoned (the job host that submitted it died, so the
scheduler cancelled its tasks: a running task cannot be interrupted, so it
watches for that itself and stops its command).

Imported on the workers: it needs mlnb installed there, and nothing heavy.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_BATCH_S = 0.2
# How often a replica and its job host look whether every replica published its address.
_MEETING_POLL_S = 0.2


def reserve_port() -> str:
    """``host:port`` free on this worker now, for TF_CONFIG's cluster."""
    from distributed import get_worker

    host = get_worker().address.split("://", 1)[-1].rsplit(":", 1)[0]
    with socket.socket() as s:
        s.bind(("", 0))
        port = int(s.getsockname()[1])
    return f"{host}:{port}"


def run_command(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec["command"]`` and report back; see the module docstring.

    spec keys: ``name`` (replica name in the log), ``files`` (name to bytes,
    written to the work folder), ``trainer_archives`` (names of files to
    install as the trainer's environment), ``command`` (``{python}`` and
    ``{workdir}`` are replaced), ``env`` (``{workdir}`` is replaced),
    ``mirror`` (work-folder file to the host's path it is copied to as it
    changes), ``rendezvous`` (``name``, ``index``, ``count``,
    ``timeout_s``: publish this replica's address and wait for the others'
    before starting; ``{rendezvous:i}`` in ``env`` becomes replica i's
    address), ``queue``, ``stop_event``,
    ``grace_s``, ``collect`` (files to send back), ``progress_file`` and
    ``progress`` (a function that reads a progress report from that file;
    Dask sends it by reference, so the worker imports its module).
    """
    from distributed import Event, Queue, get_worker

    worker_dir = Path(get_worker().local_directory) / "mlnb"
    workdir = Path(tempfile.mkdtemp(prefix="job-", dir=_mkdir(worker_dir / "work")))
    for name, data in spec.get("files", {}).items():
        (workdir / name).write_bytes(data)
    python = sys.executable
    archives = [workdir / name for name in spec.get("trainer_archives", [])]
    if archives:
        from mlnb.runtime.environments import prepare_environment

        python = str(prepare_environment(archives, worker_dir / "envs"))
    command = [
        part.replace("{python}", python).replace("{workdir}", str(workdir)) for part in spec["command"]
    ]
    env = {k: v.replace("{workdir}", str(workdir)) for k, v in spec.get("env", {}).items()}
    mirror = _Mirror(workdir, spec.get("mirror", {}))
    out = Queue(spec["queue"])
    stop = Event(spec["stop_event"])
    abandoned = _abandonment_check()
    if spec.get("rendezvous"):
        addresses = _meet(spec["rendezvous"], lambda: stop.is_set() or abandoned())
        if addresses is None:
            reason = "The replicas did not all meet at the rendezvous (stopped, or not all placed in time)"
            return {"returncode": 1, "tail": [reason], "files": {}}
        env = {k: _fill_addresses(v, addresses) for k, v in env.items()}
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        process_group=0,
    )
    lines: queue.Queue[tuple[str, str, str, str]] = queue.Queue()
    tail: collections.deque[str] = collections.deque(maxlen=20)
    name = spec["name"]
    pumps = [
        _pump(process.stdout, name, "stdout", lines, tail),  # type: ignore[arg-type]
        _pump(process.stderr, name, "stderr", lines, tail),  # type: ignore[arg-type]
    ]
    read_progress: Callable[[Path], Any] | None = spec.get("progress")
    progress_file = workdir / spec["progress_file"] if spec.get("progress_file") else None
    last_progress = None
    out.put(["service", f"{name} started on {get_worker().address} (pid {process.pid})"])
    stopping_since = None
    while process.poll() is None or any(p.is_alive() for p in pumps) or not lines.empty():
        batch = _drain(lines)
        if batch:
            out.put(["lines", batch])
        if progress_file is not None and read_progress is not None:
            last_progress = _send_progress(out, read_progress(progress_file), last_progress)
        mirror.send_changes(out)
        if process.poll() is None:
            if stopping_since is None and (stop.is_set() or abandoned()):
                stopping_since = time.monotonic()
                _signal(process.pid, signal.SIGTERM)
            elif stopping_since is not None and time.monotonic() - stopping_since > spec.get("grace_s", 10.0):
                _signal(process.pid, signal.SIGKILL)
        time.sleep(_BATCH_S)
    if progress_file is not None and read_progress is not None:
        last_progress = _send_progress(out, read_progress(progress_file), last_progress)
    mirror.send_changes(out)
    collected = {n: (workdir / n).read_bytes() for n in spec.get("collect", []) if (workdir / n).exists()}
    # The last progress travels with the result too: the queue's copy may
    # not be read yet when the job host sees the task done.
    return {
        "returncode": process.returncode,
        "tail": list(tail),
        "files": collected,
        "progress": last_progress,
    }


def rendezvous_placeholder(index: int) -> str:
    """What stands for replica ``index``'s address in its ``env`` until
    every replica of the meeting has published its own."""
    return f"{{rendezvous:{index}}}"


# A rendezvous lives in the scheduler's task metadata, under
# ("mlnb-rendezvous", meeting, index): reading it is one call that never
# fails (a Variable not yet set times out on the scheduler, which logs
# every such timeout as an ERROR).
_MEETINGS = "mlnb-rendezvous"


def gather_addresses(
    meeting: str, count: int, give_up: Callable[[], bool], deadline: float, client: Any = None
) -> dict[int, str]:
    """The addresses published so far under ``meeting`` (replica index to
    ``host:port``), polled until all ``count`` are there, ``give_up()``
    turns true, or ``time.monotonic()`` passes ``deadline``. The replica
    tasks and the job host that waits for them both read them so."""
    from distributed import get_client

    client = client or get_client()
    found: dict[int, str] = {}
    while True:
        published = client.get_metadata([_MEETINGS, meeting], default=None) or {}
        found = {int(i): str(a) for i, a in published.items() if int(i) < count and a}
        if len(found) == count or give_up() or time.monotonic() > deadline:
            return found
        time.sleep(_MEETING_POLL_S)


def forget_meeting(meeting: str, client: Any) -> None:
    """Drop a rendezvous' addresses from the scheduler (the job ended)."""
    client.set_metadata([_MEETINGS, meeting], None)


def _meet(meeting: dict[str, Any], give_up: Callable[[], bool]) -> list[str] | None:
    """Publish this replica's ``host:port`` under the meeting's name and
    collect every replica's, in index order; ``None`` if ``give_up()`` turns
    true or the timeout passes first."""
    from distributed import get_client

    name, count = meeting["name"], int(meeting["count"])
    get_client().set_metadata([_MEETINGS, name, str(meeting["index"])], reserve_port())
    found = gather_addresses(name, count, give_up, time.monotonic() + float(meeting["timeout_s"]))
    return [found[i] for i in range(count)] if len(found) == count else None


def _fill_addresses(value: str, addresses: list[str]) -> str:
    for index, address in enumerate(addresses):
        value = value.replace(rendezvous_placeholder(index), address)
    return value


class _Mirror:
    """Files in the work folder that the job host reads, sent back whole
    each time they change (small files that their writer rewrites, as
    cloudml-hypertune rewrites its metric file)."""

    def __init__(self, workdir: Path, targets: dict[str, str]) -> None:
        self._files = {workdir / name: target for name, target in targets.items()}
        self._seen: dict[Path, tuple[int, int]] = {}

    def send_changes(self, out: Any) -> None:
        for path, target in self._files.items():
            try:
                stat = path.stat()
            except OSError:
                continue
            stamp = (stat.st_size, stat.st_mtime_ns)
            if self._seen.get(path) != stamp:
                self._seen[path] = stamp
                out.put(["file", [target, path.read_bytes()]])


def _abandonment_check() -> Callable[[], bool]:
    """A function telling whether the scheduler has let this task go.

    Reads the worker's own record of the running task (no network); it
    leans on the worker's state machine, so on a distributed version that
    keeps it elsewhere the check is off (the stop event still works).
    """
    from distributed import get_worker

    try:
        from distributed.worker import thread_state  # type: ignore[attr-defined]

        worker, key = get_worker(), thread_state.key
        worker.state.tasks  # noqa: B018 - present in this version?
    except (AttributeError, ImportError, ValueError):
        return lambda: False

    def abandoned() -> bool:
        task = worker.state.tasks.get(key)
        return task is None or task.state in ("cancelled", "released", "forgotten")

    return abandoned


def _pump(
    stream: IO[bytes],
    name: str,
    kind: str,
    lines: queue.Queue[tuple[str, str, str, str]],
    tail: collections.deque[str] | None,
) -> threading.Thread:
    from mlnb.runtime.logs import utc_now

    def run() -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            lines.put((utc_now(), name, kind, text))
            if tail is not None:
                tail.append(text)
        stream.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _drain(lines: queue.Queue[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    batch = []
    with contextlib.suppress(queue.Empty):
        while True:
            batch.append(lines.get_nowait())
    return batch


def _send_progress(out: Any, progress: Any, last: Any) -> Any:
    if progress is not None and progress != last:
        out.put(["progress", progress])
    return progress if progress is not None else last


def _signal(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
