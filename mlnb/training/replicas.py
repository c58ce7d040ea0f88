"""Replica processes of a training job: started with their environment,
their output pumped into the job log, watched, and stopped."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlnb.jobs.logs import LogWriter
from mlnb.jobs.processes import signal_group
from mlnb.training.tiers import Replica

_TAIL = 20


@dataclass
class ReplicaProcess:
    """A started replica and the last lines it wrote to stderr."""

    replica: Replica
    process: subprocess.Popen[bytes]
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=_TAIL))

    @property
    def name(self) -> str:
        return self.replica.name

    def describe_exit(self) -> str:
        """ML Engine's wording: how the replica ended, with its last lines."""
        code = self.process.returncode
        if code is not None and code < 0:
            how = f"was killed by signal {-code} ({signal.Signals(-code).name})"
        else:
            how = f"exited with a non-zero status of {code}"
        message = f"The replica {self.name} {how}."
        if self.tail:
            message += " Its last lines:\n" + "\n".join(self.tail)
        return message


def gpu_devices() -> list[str]:
    """Indices of this machine's NVIDIA GPUs (none when nvidia-smi is absent)."""
    if shutil.which("nvidia-smi") is None:
        return []
    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return [str(i) for i, line in enumerate(done.stdout.splitlines()) if line.startswith("GPU ")]


def start_replicas(
    python: Path,
    module: str,
    arguments: Sequence[str],
    replicas: Sequence[Replica],
    environments: Sequence[Mapping[str, str]],
    log: LogWriter,
    cwd: Path,
) -> list[ReplicaProcess]:
    """Start one process per replica, in its own process group, running
    ``python -m module arguments``."""
    devices = gpu_devices()
    started: list[ReplicaProcess] = []
    next_device = 0
    for replica, extra in zip(replicas, environments, strict=True):
        env = {**os.environ, **extra}
        if devices:
            wanted = devices[next_device : next_device + replica.gpus]
            next_device += len(wanted)
            env["CUDA_VISIBLE_DEVICES"] = ",".join(wanted)
        elif replica.gpus:
            log.service(
                f"{replica.name} asks for {replica.gpus} GPU(s); this machine has none, it runs on the CPU"
            )
        process = subprocess.Popen(
            [str(python), "-m", module, *arguments],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        )
        handle = ReplicaProcess(replica, process)
        log.pump(process.stdout, replica.name, "stdout")  # type: ignore[arg-type]
        log.pump(process.stderr, replica.name, "stderr", tail=handle.tail.append)  # type: ignore[arg-type]
        log.service(f"Started {replica.name} (pid {process.pid})")
        started.append(handle)
    return started


def stop_replicas(replicas: Sequence[ReplicaProcess], grace_s: float) -> None:
    """SIGTERM every running replica's group, then SIGKILL what is left
    after ``grace_s`` seconds."""
    running = [r for r in replicas if r.process.poll() is None]
    for handle in running:
        signal_group(handle.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(r.process.poll() is None for r in running):
        time.sleep(0.05)
    for handle in running:
        if handle.process.poll() is None:
            signal_group(handle.process.pid, signal.SIGKILL)
        handle.process.wait()
