"""Team mode: job services taking jobs that several machines submit.

Part 1: ``--jobs`` short training jobs (default 50) submitted at once from
3 "machines" (homes and machine ids of their own, threads of this process)
to 2 job services (``mlnb jobs host`` processes, machine ids of their own),
all sharing one database. It prints the jobs a minute, the median time from
the submit call to RUNNING, and the database write transactions a job cost
(the submitters' and the hosts' together). With ``--dask`` the replicas run
on a local Dask cluster of 2 workers.

Part 2: the job service's own cost with 100 queued jobs: heartbeats a
second (renewing the lease on a held job), idle claim polls a second (the
queue it serves is empty while 100 jobs wait in another), and claims a
second (taking queued jobs one at a time).

    .venv/bin/python bench/team.py [--jobs 50] [--database-url URL] [--dask]

The database is a fresh SQLite file unless ``--database-url`` names an
empty one (PostgreSQL: ``postgresql://user@127.0.0.1:5432/bench``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import trainers
from support.team import ServiceHost, machine, shared_database

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.jobs import TEAM_QUEUE, JobService
from mlnb.records import JobRecord, now
from mlnb.states import JobKind, JobState
from mlnb.store import Database

ARGS = ["--steps", "2", "--sleep", "0.1"]


def team_machine(root: Path, name: str, database_url: str) -> Settings:
    """A machine of the team with mlnb's defaults for timing (heartbeats
    every 2 s, the machine's cores as its local slots)."""
    return machine(
        root,
        name,
        database_url,
        job_host="service",
        job_heartbeat_s=2.0,
        cancel_grace_s=10.0,
        max_running_jobs=0,
    )


def host_writes(host: ServiceHost) -> int:
    """Stop a host and read the write transactions it reports as it leaves."""
    host.stop()
    for line in host.lines:
        if "database write transaction" in line:
            return int(line.rsplit(", ", 1)[1].split()[0])
    raise SystemExit("the job host reported no writes:\n" + "\n".join(host.lines))


def part_one(root: Path, database_url: str, jobs: int, cluster: str | None) -> dict[str, float]:
    trainer = trainers.write_trainer(root / "src")
    hosts = [ServiceHost(team_machine(root, f"host-{n}", database_url)) for n in (1, 2)]
    laptops = [Engine(team_machine(root, f"laptop-{n}", database_url)) for n in (1, 2, 3)]
    extra: dict[str, Any] = {"cluster": cluster} if cluster else {}
    # The trainer package is built once and cached: a first job, not timed.
    laptops[0].submit_training_job(
        "warm", package_path=trainer, module_name="trainer.task", args=ARGS, **extra
    )
    laptops[0].wait_job("warm", timeout=600)
    submitted: dict[str, float] = {}
    before = sum(e._jobs.service.db.write_transactions for e in laptops)

    def submit(engine: Engine, names: list[str]) -> None:
        for name in names:
            submitted[name] = time.time()
            engine.submit_training_job(
                name, package_path=trainer, module_name="trainer.task", args=ARGS, **extra
            )

    names = [f"team_{n}" for n in range(jobs)]
    started = time.time()
    threads = [
        threading.Thread(target=submit, args=(engine, names[n :: len(laptops)]))
        for n, engine in enumerate(laptops)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = [laptops[0].wait_job(name, timeout=3600) for name in names]
    wall = max(job.end_time.timestamp() for job in ended if job.end_time) - started
    failed = [job.job_id for job in ended if job.state != JobState.SUCCEEDED]
    if failed:
        print(f"failed: {failed}: {ended[0].error_message}")
    to_running = [
        job.start_time.timestamp() - submitted[job.job_id] for job in ended if job.start_time is not None
    ]
    writes = sum(e._jobs.service.db.write_transactions for e in laptops) - before
    writes += sum(host_writes(host) for host in hosts)
    for engine in laptops:
        engine.close()
    return {
        "jobs a minute": jobs / wall * 60,
        "median s from submit to RUNNING": statistics.median(to_running),
        # The warm-up job's writes are in the hosts' counts: spread over all.
        "database write transactions a job": writes / (jobs + 1),
    }


def rate(action: Any, seconds: float = 2.0) -> float:
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        action()
        count += 1
    return count / seconds


def part_two(database_url: str) -> dict[str, float]:
    service = JobService(Database(database_url), dead_after_s=30.0, machine="bench-host", queue=TEAM_QUEUE)
    for n in range(101):
        service.create_job(JobRecord("bench", f"queued_{n}", JobKind.TRAINING, JobState.QUEUED, now()))
    [held] = service.claim("host-a", os.getpid(), [TEAM_QUEUE], limit=1)
    claimed = iter(range(1, 101))
    return {
        "heartbeats a second": rate(lambda: service.heartbeat(held.project, held.job_id, "host-a")),
        "idle claim polls a second": rate(lambda: service.claim("host-b", os.getpid(), ["machine:empty"])),
        "claims a second": 100
        / timed(lambda: [service.claim("host-a", os.getpid(), [TEAM_QUEUE], limit=n + 1) for n in claimed]),
    }


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--database-url", help="An empty database (default: a fresh SQLite file)")
    parser.add_argument(
        "--dask", action="store_true", help="Run the replicas on a 2-worker local Dask cluster"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlnb-bench-team-") as tmp:
        root = Path(tmp)
        # In the folder every "machine" sees (job hosts run in mount
        # namespaces of their own where the machine allows).
        url = args.database_url or shared_database(root)
        cluster = None
        if args.dask:
            from distributed import LocalCluster

            local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            cluster = local.scheduler_address
        rows = part_one(root, url, args.jobs, cluster) | part_two(url)
    where = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"\nTeam mode: {args.jobs} jobs from 3 machines to 2 job hosts, {where}, {os.cpu_count()} cores")
    print(f"{'figure':<40}{'value':>12}")
    for name, value in rows.items():
        print(f"{name:<40}{value:>12.2f}")


if __name__ == "__main__":
    main()
