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
parser.add_argument("--fail-first", default="", help="Fail unless this file exists (and write it).")
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
    "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
}), flush=True)
if args.fail_first and not os.path.exists(args.fail_first):
    open(args.fail_first, "w").close()
    print("failing the first attempt", file=sys.stderr, flush=True)
    sys.exit(3)
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


TUNED_TASK = """
import argparse
import json
import os
import time

import hypertune

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--class-weight", default="none")
parser.add_argument("--curve-trials", default="")  # report a rising curve instead of fitting
parser.add_argument("--bad-trial", default="")  # ... falling behind in this trial
parser.add_argument("--fail-trials", default="")
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()

trial = os.environ.get("CLOUD_ML_TRIAL_ID", "")
print("METRIC_FILE " + os.environ.get("CLOUD_ML_HP_METRIC_FILE", ""), flush=True)
hpt = hypertune.HyperTune()
if trial in args.fail_trials.split(","):
    raise SystemExit(f"trial {trial} fails on purpose")
time.sleep(args.sleep)
if args.curve_trials:
    for step in range(1, 40):
        value = step / 400 if trial == args.bad_trial else step / 40
        hpt.report_hyperparameter_tuning_metric("accuracy", value, global_step=step)
        time.sleep(0.1)
    raise SystemExit(0)

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

features, labels = load_breast_cancer(return_X_y=True)
weight = None if args.class_weight == "none" else args.class_weight
model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, class_weight=weight, max_iter=500))
score = float(cross_val_score(model, features, labels, cv=3).mean())
print("RESULT " + json.dumps({"trial": trial, "C": args.C, "class_weight": args.class_weight,
                              "accuracy": score, "job_dir": args.job_dir,
                              "task": json.loads(os.environ["TF_CONFIG"])["task"]}), flush=True)
hpt.report_hyperparameter_tuning_metric("accuracy", score, global_step=1)
"""


def write_tuned_trainer(root: Path) -> Path:
    """A trainer that tunes a scikit-learn model with cloudml-hypertune."""
    package = root / "tuner"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(TUNED_TASK)
    return package


MODEL_TASK = """
import argparse
import os

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir", required=True)
args = parser.parse_args()
features, labels = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=500).fit(features, labels)
os.makedirs(os.path.join(args.job_dir, "model"), exist_ok=True)
joblib.dump(model, os.path.join(args.job_dir, "model", "model.joblib"))
print("saved", flush=True)
"""


def write_model_trainer(root: Path) -> Path:
    """A trainer that fits a scikit-learn classifier of iris and saves it as
    ``JOB_DIR/model/model.joblib``, ready to deploy."""
    package = root / "iris_trainer"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(MODEL_TASK)
    return package
