"""Running a job's processes on a Dask distributed cluster: replicas of a
training job and papermill for a notebook job become tasks on the workers
(``mlnb.runtime.dask_tasks``), with the same states, logs and cancellation as
local processes. Accelerators become worker resources (``GPU=1``)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlnb.errors import FailedPrecondition, InvalidArgument, import_extra
from mlnb.runtime.dask_tasks import forget_meeting
from mlnb.runtime.logs import SERVICE, LogWriter
from mlnb.runtime.replicas import HOST_READ_FILES, Replica, ReplicaHandle

_CONNECT_TIMEOUT_S = 15
# How often the job host looks for replicas' log lines when none were waiting.
_LOG_POLL_S = 0.25


class DaskSession:
    """A client of the cluster, and the thread that copies the tasks' output
    lines into the job log."""

    def __init__(self, address: str, log: LogWriter, grace_s: float) -> None:
        distributed = import_extra("distributed", "dask", "Running jobs on a Dask cluster")
        try:
            self.client = distributed.Client(address, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
        except OSError as e:
            raise FailedPrecondition(f"Cannot reach the Dask scheduler at {address}: {e}") from e
        key = uuid.uuid4().hex[:12]
        self.queue = distributed.Queue(f"mlnb-log-{key}", client=self.client)
        self.stop_event = distributed.Event(f"mlnb-stop-{key}", client=self.client)
        self.log = log
        self.grace_s = grace_s
        self.progress: dict[str, Any] | None = None
        # Rendezvous to forget on the scheduler at the end.
        self.meetings: list[str] = []
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, name="dask-log-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # What is there, at once: a get that waits with a timeout ends in a
        # TimeoutError that the scheduler logs as an ERROR, twice a second
        # per job, into the log of a cluster the team shares.
        while not self._closing.is_set():
            try:
                items = self.queue.get(batch=True)
            except OSError:
                items = []
            for kind, payload in items:
                self._handle(kind, payload)
            if not items:
                self._closing.wait(_LOG_POLL_S)

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "lines":
            for time, replica, stream, text in payload:
                self.log.write(replica, stream, text, time)
        elif kind == "progress":
            self.progress = payload
        elif kind == "file":
            path, data = payload
            _replace_file(Path(path), data)
        else:
            self.log.write(SERVICE, SERVICE, str(payload))

    def workers(self, gpus: int) -> list[str]:
        """Workers that can take a task asking for ``gpus`` GPUs.

        Raises:
            FailedPrecondition: None can.
        """
        info = self.client.scheduler_info()["workers"]
        fit = [
            addr
            for addr, w in sorted(info.items())
            if gpus == 0 or w.get("resources", {}).get("GPU", 0) >= gpus
        ]
        if not fit:
            raise FailedPrecondition(
                f"No Dask worker offers {gpus} GPU(s): start workers with --resources GPU={gpus}"
            )
        return fit

    def submit(self, spec: dict[str, Any], gpus: int) -> Any:
        """Run ``spec`` as a task wherever the scheduler finds room (and
        ``gpus`` GPUs, a worker resource)."""
        from mlnb.runtime import dask_tasks

        spec = {**spec, "queue": self.queue.name, "stop_event": self.stop_event.name, "grace_s": self.grace_s}
        return self.client.submit(
            dask_tasks.run_command,
            spec,
            key=f"mlnb-{spec['name']}-{uuid.uuid4().hex[:8]}",
            resources={"GPU": gpus} if gpus else None,
            pure=False,
        )

    def close(self) -> None:
        self._closing.set()
        self._reader.join(timeout=2)
        # Lines sent just before the end are still in the queue.
        for kind, payload in self.queue.get(batch=True):
            self._handle(kind, payload)
        for name in self.meetings:
            with contextlib.suppress(Exception):  # the scheduler is gone
                forget_meeting(name, self.client)
        self.client.close()


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` as ``path`` at once: a reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    partial.write_bytes(data)
    partial.replace(path)


class DaskReplica(ReplicaHandle):
    """A replica running as a task on a Dask worker."""

    def __init__(self, replica: Replica, future: Any, session: DaskSession) -> None:
        super().__init__(replica)
        self.future = future
        self.session = session
        self._code: int | None = None

    def poll(self) -> int | None:
        if self._code is None and self.future.done():
            try:
                result = self.future.result()
            except Exception as e:  # a worker that died, or the task's own failure
                self.tail.append(f"The Dask task failed: {type(e).__name__}: {e}")
                self._code = 1
            else:
                self.tail.extend(result["tail"])
                self._code = int(result["returncode"])
        return self._code

    def terminate(self) -> None:
        self.session.stop_event.set()

    def kill(self) -> None:
        # The task sends SIGKILL itself once its grace period is over.
        self.session.stop_event.set()
        with contextlib.suppress(Exception):  # ending anyway: poll() reports how it ended
            self.future.result(timeout=self.session.grace_s + 10)
        self.poll()


class DaskLauncher:
    """Training replicas as tasks on a Dask cluster, placed by its scheduler.

    Nothing is pinned: each replica is a task asking only for the resources
    it needs (``GPU``), and the scheduler puts it where there is room. Since
    a distributed trainer's ``TF_CONFIG`` must name every replica's address
    before any starts, the replicas meet at a rendezvous once placed: each
    task reserves a port on its worker, publishes ``host:port``, waits for
    the others, and starts its trainer with the full cluster. ``start``
    returns once every replica has published, that is once all run.
    """

    def __init__(self, session: DaskSession, rendezvous_timeout_s: float = 600.0) -> None:
        self.session = session
        self.rendezvous_timeout_s = rendezvous_timeout_s
        self._count = 0

    def addresses(self, replicas: Sequence[Replica]) -> list[str]:
        """Placeholders that each task replaces with the published addresses."""
        for gpus in {r.gpus for r in replicas}:
            self.session.workers(gpus)  # refuse at once what no worker can take
        from mlnb.runtime.dask_tasks import rendezvous_placeholder

        self._count = len(replicas)
        return [rendezvous_placeholder(i) for i in range(len(replicas))]

    def start(
        self,
        python_or_archives: Path | Sequence[Path],
        module: str,
        arguments: Sequence[str],
        replicas: Sequence[Replica],
        environments: Sequence[Mapping[str, str]],
    ) -> list[ReplicaHandle]:
        if isinstance(python_or_archives, Path):
            raise InvalidArgument("A Dask launcher installs the trainer's archives on each worker")
        files = {path.name: path.read_bytes() for path in python_or_archives}
        meeting = f"mlnb-rendezvous-{uuid.uuid4().hex[:12]}" if self._count else None
        handles: list[ReplicaHandle] = []
        for index, (replica, env) in enumerate(zip(replicas, environments, strict=True)):
            # A file the host reads is written in the task's own folder on
            # the worker and copied back as it changes: the two need share
            # no disk.
            mirrored = {var: env[var] for var in HOST_READ_FILES if var in env}
            spec: dict[str, Any] = {
                "name": replica.name,
                "files": files,
                "trainer_archives": list(files),
                "command": ["{python}", "-m", module, *arguments],
                "env": dict(env) | {var: f"{{workdir}}/host-files/{var}" for var in mirrored},
                "mirror": {f"host-files/{var}": path for var, path in mirrored.items()},
            }
            if meeting is not None:
                spec["rendezvous"] = {
                    "name": meeting,
                    "index": index,
                    "count": self._count,
                    "timeout_s": self.rendezvous_timeout_s,
                }
            future = self.session.submit(spec, replica.gpus)
            handles.append(DaskReplica(replica, future, self.session))
        if meeting is not None:
            self.session.meetings.append(meeting)
            self._wait_for_all(meeting, replicas, handles)
        return handles

    def _wait_for_all(
        self, meeting: str, replicas: Sequence[Replica], handles: Sequence[ReplicaHandle]
    ) -> None:
        """Block until every replica has published its address (it runs).

        Raises:
            FailedPrecondition: A replica's task ended first, or not all were
                placed within the rendezvous timeout.
        """
        from mlnb.runtime.dask_tasks import gather_addresses

        deadline = time.monotonic() + self.rendezvous_timeout_s
        placed = gather_addresses(
            meeting,
            self._count,
            lambda: any(h.poll() is not None for h in handles),
            deadline,
            client=self.session.client,
        )
        if len(placed) < self._count:
            ended = [h for h in handles if h.poll() is not None]
            if ended:
                first = ended[0]
                raise FailedPrecondition(
                    f"{first.replica.name} ended before every replica was placed: {first.describe_exit()}"
                )
            waiting = ", ".join(r.name for i, r in enumerate(replicas) if i not in placed)
            raise FailedPrecondition(
                f"The Dask cluster placed {len(placed)} of {self._count} replicas within "
                f"{self.rendezvous_timeout_s:.0f} s ({waiting} waiting): a distributed "
                "trainer needs all of them running at once"
            )
        shown = ", ".join(f"{r.name} at {placed[i]}" for i, r in enumerate(replicas))
        self.session.log.service(f"Every replica is placed: {shown}")
