"""The floor that every job kind stands on: the execution contract, job
logs, processes and their groups, replicas run here (``LocalLauncher``) or
on a Dask cluster (``mlnb.runtime.dask_cluster``, imported only when one is
used), free ports, and the TFRecord codec."""

from __future__ import annotations

from mlnb.runtime.execution import Execution, ExecutionFactory, JobContext, Outcome
from mlnb.runtime.logs import (
    SERVICE,
    LogEntry,
    LogReader,
    LogTail,
    LogWriter,
    StoredLog,
    follow_log,
    read_log,
)
from mlnb.runtime.ports import free_port, free_ports
from mlnb.runtime.processes import process_alive, signal_group
from mlnb.runtime.replicas import Launcher, LocalLauncher, Replica, ReplicaHandle, gpu_types, stop_replicas

__all__ = [
    "SERVICE",
    "Execution",
    "ExecutionFactory",
    "JobContext",
    "Launcher",
    "LocalLauncher",
    "LogEntry",
    "LogReader",
    "LogTail",
    "LogWriter",
    "Outcome",
    "Replica",
    "ReplicaHandle",
    "StoredLog",
    "follow_log",
    "free_port",
    "free_ports",
    "gpu_types",
    "process_alive",
    "read_log",
    "signal_group",
    "stop_replicas",
]
