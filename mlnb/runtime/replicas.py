"""Replica processes of a job (a training job's master, workers and
parameter servers, a batch job's shards): placed, started with their
environment, their output pumped into the job log, watched, and stopped.

``LocalLauncher`` runs them as processes on this machine;
``mlnb.runtime.dask_cluster.DaskLauncher`` runs them on a Dask cluster. Both
give ``ReplicaHandle`` objects that an execution watches the same way.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlnb.runtime.logs import LogWriter
from mlnb.runtime.ports import free_ports
from mlnb.runtime.processes import signal_group, with_lifeline
from mlnb.runtime.warm import WarmProcess, warm_available

TAIL_LINES = 20

# How long an ended replica's last lines may take to reach its tail. The
# pipes close when the process ends, unless a child it left behind still
# holds them: then the message goes without what was not read by then.
_DRAIN_S = 5.0


# Environment variables naming a file that a replica writes and the job
# host reads (the hypertune metric file): a launcher on other machines points
# them at the replica's own folder and copies the file back as it changes.
HOST_READ_FILES = ("CLOUD_ML_HP_METRIC_FILE",)


@dataclass(frozen=True)
class Replica:
    """One process of a training job.

    Attributes:
        task_type: ``master`` (or ``chief``), ``worker`` or ``ps``, as in TF_CONFIG.
        index: Its index among replicas of that type.
        gpus: GPUs it asks for (from the tier or an acceleratorConfig).
    """

    task_type: str
    index: int
    gpus: int = 0

    @property
    def name(self) -> str:
        """``master-replica-0``, ``worker-replica-1``..., as ML Engine names them."""
        return f"{self.task_type}-replica-{self.index}"


class ReplicaHandle:
    """A started replica: its exit status, how it ended, how to stop it."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        # The threads copying its output into the log and the tail.
        self.readers: list[threading.Thread] = []

    @property
    def name(self) -> str:
        return self.replica.name

    def poll(self) -> int | None:
        """The exit status once it ended (negative: killed by that signal)."""
        raise NotImplementedError

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM)."""
        raise NotImplementedError

    def kill(self) -> None:
        """Stop it now (SIGKILL) and wait for it."""
        raise NotImplementedError

    def describe_exit(self) -> str:
        """ML Engine's wording: how the replica ended, with its last lines."""
        code = self.poll()
        if code is not None and code < 0:
            how = f"was killed by signal {-code} ({signal.Signals(-code).name})"
        else:
            how = f"exited with a non-zero status of {code}"
        message = f"The replica {self.name} {how}."
        # The process can end before its last lines were read from its pipes.
        deadline = time.monotonic() + _DRAIN_S
        for reader in self.readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        if self.tail:
            message += " Its last lines:\n" + "\n".join(self.tail)
        return message


class Launcher(Protocol):
    """Where replicas run."""

    def addresses(self, replicas: Sequence[Replica]) -> list[str]:
        """``host:port`` for each replica, for TF_CONFIG's cluster."""
        ...

    def start(
        self,
        python_or_archives: Path | Sequence[Path],
        module: str,
        arguments: Sequence[str],
        replicas: Sequence[Replica],
        environments: Sequence[Mapping[str, str]],
    ) -> list[ReplicaHandle]: ...


class LocalReplica(ReplicaHandle):
    """A replica as a process on this machine, in its own process group."""

    def __init__(self, replica: Replica, process: subprocess.Popen[bytes] | WarmProcess) -> None:
        super().__init__(replica)
        self.process = process

    def poll(self) -> int | None:
        return self.process.poll()

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self.process.wait()

    def _signal(self, sig: int) -> None:
        # A warm child makes its group a moment after it starts: until then,
        # the process itself.
        if not signal_group(self.process.pid, sig):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.process.pid, sig)


def gpu_devices() -> list[str]:
    """Indices of this machine's NVIDIA GPUs (none when nvidia-smi is absent)."""
    return [str(i) for i, _ in enumerate(gpu_models())]


def machine_gpus(setting: str) -> list[str]:
    """The GPUs the ``gpus`` setting gives jobs: ``auto`` (nvidia-smi's),
    indices (``0,1``), or none."""
    if setting.strip().lower() == "auto":
        return gpu_devices()
    return [d.strip() for d in setting.split(",") if d.strip()]


def gpu_models() -> list[str]:
    """The model of each of this machine's NVIDIA GPUs, as ``nvidia-smi -L``
    names them (``Tesla T4``); none when nvidia-smi is absent."""
    if shutil.which("nvidia-smi") is None:
        return []
    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("GPU ")]
    return [line.split(":", 1)[1].split("(UUID")[0].strip() for line in lines]


# nvidia-smi's model names as ML Engine's accelerator types.
_ACCELERATORS = {
    "K80": "NVIDIA_TESLA_K80",
    "P100": "NVIDIA_TESLA_P100",
    "V100": "NVIDIA_TESLA_V100",
    "P4": "NVIDIA_TESLA_P4",
    "T4": "NVIDIA_TESLA_T4",
    "A100": "NVIDIA_TESLA_A100",
}


def gpu_types() -> list[str]:
    """This machine's GPUs as ML Engine names their types, one entry each."""
    return [accelerator_type(model) for model in gpu_models()]


def accelerator_type(model: str) -> str:
    """``Tesla T4`` -> ``NVIDIA_TESLA_T4``; ``NVIDIA H100 80GB HBM3`` -> ``NVIDIA_H100``."""
    words = model.upper().replace("-", " ").split()
    for word in words:
        if word in _ACCELERATORS:
            return _ACCELERATORS[word]
    named = [w for w in words if w not in ("NVIDIA", "TESLA", "GEFORCE")]
    return f"NVIDIA_{named[0]}" if named else "NVIDIA_GPU"


class LocalLauncher:
    """Replicas as processes on this machine, each on a port of 127.0.0.1.

    Args:
        warm: Start replicas that run in this interpreter's Python as warm
            children (``mlnb.runtime.warm``), forked with their libraries
            imported, instead of fresh interpreters.
        devices: The GPUs the job holds, shared out to the replicas that
            ask for GPUs (``CUDA_VISIBLE_DEVICES``); by default this
            machine's all.
    """

    def __init__(
        self, log: LogWriter, cwd: Path, warm: bool = False, devices: Sequence[str] | None = None
    ) -> None:
        self.log = log
        self.cwd = cwd
        self.warm = warm and warm_available()
        # The GPUs the job holds (the host gave them); None: this machine's all.
        self.devices = list(devices) if devices is not None else None

    def addresses(self, replicas: Sequence[Replica]) -> list[str]:
        return [f"127.0.0.1:{port}" for port in free_ports(len(replicas))]

    def start(
        self,
        python_or_archives: Path | Sequence[Path],
        module: str,
        arguments: Sequence[str],
        replicas: Sequence[Replica],
        environments: Sequence[Mapping[str, str]],
    ) -> list[ReplicaHandle]:
        """Start ``python -m module arguments`` once per replica."""
        if not isinstance(python_or_archives, Path):
            raise TypeError("LocalLauncher.start takes the trainer environment's python")
        devices = self.devices if self.devices is not None else gpu_devices()
        started: list[ReplicaHandle] = []
        next_device = 0
        self.cwd.mkdir(parents=True, exist_ok=True)
        for replica, extra in zip(replicas, environments, strict=True):
            env = {**os.environ, **extra}
            if devices:
                wanted = devices[next_device : next_device + replica.gpus]
                next_device += len(wanted)
                env["CUDA_VISIBLE_DEVICES"] = ",".join(wanted)
            elif replica.gpus:
                wants = f"{replica.name} asks for {replica.gpus} GPU(s)"
                self.log.service(f"{wants}; this machine has none: it runs on the CPU")
            process: subprocess.Popen[bytes] | WarmProcess
            if self.warm and python_or_archives == Path(sys.executable):
                process = WarmProcess(module, arguments, env, self.cwd)
            else:
                process = subprocess.Popen(
                    with_lifeline([str(python_or_archives), "-m", module, *arguments]),
                    cwd=self.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    process_group=0,
                )
            handle = LocalReplica(replica, process)
            # The last lines of both streams, as they are read: a trainer that
            # prints only to stdout still says why it failed.
            handle.readers = [
                self.log.pump(process.stdout, replica.name, "stdout", tail=handle.tail.append),  # type: ignore[arg-type]
                self.log.pump(process.stderr, replica.name, "stderr", tail=handle.tail.append),  # type: ignore[arg-type]
            ]
            self.log.service(f"Started {replica.name} (pid {process.pid})")
            started.append(handle)
        return started


def stop_replicas(handles: Sequence[ReplicaHandle], grace_s: float) -> None:
    """SIGTERM every running replica, then SIGKILL what is left after
    ``grace_s`` seconds."""
    running = [h for h in handles if h.poll() is None]
    for handle in running:
        handle.terminate()
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(h.poll() is None for h in running):
        time.sleep(0.05)
    for handle in running:
        if handle.poll() is None:
            handle.kill()
