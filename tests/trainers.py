"""Trainer packages for the job tests, written as users write them."""

from __future__ import annotations

from pathlib import Path

TASK = """
import argparse
import json
import os
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
parser.add_argument("--steps", type=int, default=2)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--ignore-sigterm", action="store_true")
parser.add_argument("--fail-replica", default="")
args = parser.parse_args()

tf_config = json.loads(os.environ["TF_CONFIG"])
task = tf_config["task"]
me = f"{task['type']}-replica-{task['index']}"
if args.ignore_sigterm:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ENV " + json.dumps({
    "tf_config": tf_config,
    "job_id": os.environ.get("CLOUD_ML_JOB_ID"),
    "job_dir": args.job_dir,
    "pid": os.getpid(),
    "argv": sys.argv[1:],
}), flush=True)
if me == args.fail_replica:
    time.sleep(0.5)
    print("something went wrong in " + me, file=sys.stderr, flush=True)
    sys.exit(args.exit or 1)
for step in range(args.steps):
    print(f"step {step}", flush=True)
    time.sleep(args.sleep)
if args.job_dir:
    os.makedirs(args.job_dir, exist_ok=True)
    with open(os.path.join(args.job_dir, me + ".done"), "w") as f:
        f.write("ok")
if args.exit and not args.fail_replica:
    print("something went wrong in " + me, file=sys.stderr, flush=True)
    sys.exit(args.exit or 1)
"""


def write_trainer(root: Path, name: str = "trainer") -> Path:
    """``root/name/`` holding ``__init__.py`` and ``task.py``; returns it."""
    package = root / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(TASK)
    return package
