"""Hyperparameter tuning: how fast mlnb's default algorithm finds good
parameters, against random search and scikit-learn's RandomizedSearchCV with
the same budget, and how many trials a minute one and two parallel trials
run.

Search quality runs in-process on three tasks built from datasets that
scikit-learn ships (an SVC on breast cancer, an XGBoost classifier on
breast cancer, an XGBoost regressor on diabetes), five seeds each: every
trial is a 3-fold cross-validation with fixed folds, asked of the same
Optuna study, sampler and search space a tuning job uses (mlnb.tuning).
The table gives the mean best-so-far after 10, 20 and 40 trials.

Throughput runs real tuning jobs (the job host, trainer processes, the
cloudml-hypertune metric file) at maxParallelTrials 1 and 2.

    .venv/bin/python bench/tuning.py [--seeds 5] [--trials 40] [--skip-jobs]

Aims (issue 6): ALGORITHM_UNSPECIFIED reaches random search's 40-trial best
within 20 trials on at least two of the three tasks (averaged over seeds);
two parallel trials give at least 1.7 times the trials a minute of one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

warnings.filterwarnings("ignore")

Objective = Callable[[dict[str, Any]], float]


def _cv(model: Any, features: Any, labels: Any, scoring: str) -> float:
    from sklearn.model_selection import KFold, cross_val_score

    folds = KFold(3, shuffle=True, random_state=0)
    return float(cross_val_score(model, features, labels, cv=folds, scoring=scoring).mean())


def tasks() -> dict[str, tuple[list[dict[str, Any]], Objective, Any]]:
    """Name -> (ML Engine params, objective to maximize, the same space for RandomizedSearchCV)."""
    from scipy.stats import loguniform, randint, uniform
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from xgboost import XGBClassifier, XGBRegressor

    cancer_x, cancer_y = load_breast_cancer(return_X_y=True)
    diabetes_x, diabetes_y = load_diabetes(return_X_y=True)

    def log(name: str, low: float, high: float) -> dict[str, Any]:
        return {"parameterName": name, "type": "DOUBLE", "minValue": low, "maxValue": high,
                "scaleType": "UNIT_LOG_SCALE"}  # fmt: skip

    def integer(name: str, low: int, high: int) -> dict[str, Any]:
        return {"parameterName": name, "type": "INTEGER", "minValue": low, "maxValue": high,
                "scaleType": "UNIT_LINEAR_SCALE"}  # fmt: skip

    def linear(name: str, low: float, high: float) -> dict[str, Any]:
        return {"parameterName": name, "type": "DOUBLE", "minValue": low, "maxValue": high,
                "scaleType": "UNIT_LINEAR_SCALE"}  # fmt: skip

    svc_params = [log("C", 1e-3, 1e3), log("gamma", 1e-5, 1.0)]

    def svc(p: dict[str, Any]) -> float:
        model = make_pipeline(StandardScaler(), SVC(C=p["C"], gamma=p["gamma"]))
        return _cv(model, cancer_x, cancer_y, "accuracy")

    xgb_params = [log("learning_rate", 1e-3, 1.0), integer("max_depth", 1, 8), linear("subsample", 0.3, 1.0),
                  log("reg_lambda", 1e-3, 100.0)]  # fmt: skip

    def xgb_kwargs(p: dict[str, Any]) -> dict[str, Any]:
        return {"n_estimators": 30, "learning_rate": p["learning_rate"], "max_depth": int(p["max_depth"]),
                "subsample": p["subsample"], "reg_lambda": p["reg_lambda"], "n_jobs": 1}  # fmt: skip

    def xgb_classifier(p: dict[str, Any]) -> float:
        return _cv(XGBClassifier(**xgb_kwargs(p)), cancer_x, cancer_y, "roc_auc")

    def xgb_regressor(p: dict[str, Any]) -> float:
        return _cv(XGBRegressor(**xgb_kwargs(p)), diabetes_x, diabetes_y, "neg_root_mean_squared_error")

    xgb_space = {"learning_rate": loguniform(1e-3, 1.0), "max_depth": randint(1, 9),
                 "subsample": uniform(0.3, 0.7), "reg_lambda": loguniform(1e-3, 100.0)}  # fmt: skip
    return {
        "SVC, breast cancer (accuracy)": (
            svc_params,
            svc,
            {"svc__C": loguniform(1e-3, 1e3), "svc__gamma": loguniform(1e-5, 1.0)},
        ),
        "XGBoost classifier, breast cancer (AUC)": (xgb_params, xgb_classifier, xgb_space),
        "XGBoost regressor, diabetes (-RMSE)": (xgb_params, xgb_regressor, xgb_space),
    }


def best_so_far(values: list[float]) -> list[float]:
    return list(np.maximum.accumulate(values))


def run_mlnb(params: list[dict[str, Any]], objective: Objective, algorithm: str, seed: int, trials: int,
             database: str) -> list[float]:  # fmt: skip
    from mlnb.tuning.spec import TuningSpec
    from mlnb.tuning.study import create_study, distributions, trainer_value

    spec = TuningSpec.from_api(
        {"goal": "MAXIMIZE", "maxTrials": trials, "params": params, "algorithm": algorithm}
    )
    study = create_study(spec, database, f"bench/{algorithm}/{seed}/{time.time_ns()}", seed=seed)
    values = []
    for _ in range(trials):
        trial = study.ask(distributions(spec))
        chosen = {p.name: trainer_value(p, trial.params[p.name]) for p in spec.params}
        value = objective(chosen)
        study.tell(trial, value)
        values.append(value)
    return best_so_far(values)


def run_sklearn(objective_space: Any, estimator_of: Callable[[], Any], data: Any, scoring: str, seed: int,
                trials: int) -> list[float]:  # fmt: skip
    from sklearn.model_selection import KFold, RandomizedSearchCV

    folds = KFold(3, shuffle=True, random_state=0)
    search = RandomizedSearchCV(
        estimator_of(), objective_space, n_iter=trials, random_state=seed, cv=folds, scoring=scoring, n_jobs=1
    )
    search.fit(*data)
    return best_so_far(list(search.cv_results_["mean_test_score"]))


def sklearn_search(name: str) -> tuple[Callable[[], Any], Any, str]:
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from xgboost import XGBClassifier, XGBRegressor

    if name.startswith("SVC"):
        return (
            (lambda: Pipeline([("scale", StandardScaler()), ("svc", SVC())])),
            load_breast_cancer(return_X_y=True),
            "accuracy",
        )
    if "classifier" in name:
        return (
            (lambda: XGBClassifier(n_estimators=30, n_jobs=1)),
            load_breast_cancer(return_X_y=True),
            "roc_auc",
        )
    return (
        (lambda: XGBRegressor(n_estimators=30, n_jobs=1)),
        load_diabetes(return_X_y=True),
        "neg_root_mean_squared_error",
    )


def trials_per_minute(parallel: int, trials: int, root: Path) -> float:
    from support import trainers

    from mlnb.api import Engine

    engine = Engine(home=str(root / f"home-{parallel}"), job_heartbeat_s=0.5, job_host_idle_s=30)
    trainer = trainers.write_tuned_trainer(root / f"src-{parallel}")
    spec = {
        "hyperparameters": {
            "hyperparameterMetricTag": "accuracy",
            "maxTrials": trials,
            "maxParallelTrials": parallel,
            "params": [{"parameterName": "C", "type": "DOUBLE", "minValue": 0.01, "maxValue": 10,
                        "scaleType": "UNIT_LOG_SCALE"}],
        }
    }  # fmt: skip
    # A first job builds the trainer's environment and starts the job host.
    engine.submit_training_job("warm", {**spec, "hyperparameters": {**spec["hyperparameters"], "maxTrials": 1,
                                                                    "maxParallelTrials": 1}},
                               package_path=trainer, module_name="tuner.task")  # fmt: skip
    engine.wait_job("warm", timeout=600)
    started = time.perf_counter()
    engine.submit_training_job("timed", spec, package_path=trainer, module_name="tuner.task")
    job = engine.wait_job("timed", timeout=3600)
    elapsed = time.perf_counter() - started
    if job.state != "SUCCEEDED":
        raise SystemExit(f"tuning job {job.state}: {job.error_message}")
    engine.close()
    return trials / elapsed * 60


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--job-trials", type=int, default=8, help="Trials per throughput job.")
    parser.add_argument("--skip-jobs", action="store_true", help="Leave the throughput part out.")
    parser.add_argument("--skip-search", action="store_true", help="Leave the search-quality part out.")
    args = parser.parse_args()
    checkpoints = [c for c in (10, 20, 40) if c <= args.trials]

    with tempfile.TemporaryDirectory(prefix="mlnb-bench-tuning-") as tmp:
        root = Path(tmp)
        database = f"sqlite:///{root / 'mlnb.db'}"
        print(f"\nmean best-so-far over {args.seeds} seeds (higher is better)\n")
        print("| task | search | " + " | ".join(f"after {c}" for c in checkpoints) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in checkpoints) + " |")
        met = 0
        for name, (params, objective, space) in ({} if args.skip_search else tasks()).items():
            curves: dict[str, list[list[float]]] = {"mlnb default (TPE)": [], "mlnb RANDOM_SEARCH": [],
                                                    "RandomizedSearchCV": []}  # fmt: skip
            estimator_of, data, scoring = sklearn_search(name)
            for seed in range(args.seeds):
                curves["mlnb default (TPE)"].append(
                    run_mlnb(params, objective, "ALGORITHM_UNSPECIFIED", seed, args.trials, database)
                )
                curves["mlnb RANDOM_SEARCH"].append(
                    run_mlnb(params, objective, "RANDOM_SEARCH", seed, args.trials, database)
                )
                curves["RandomizedSearchCV"].append(
                    run_sklearn(space, estimator_of, data, scoring, seed, args.trials)
                )
            means = {
                k: [statistics.mean(c[i] for c in v) for i in range(args.trials)] for k, v in curves.items()
            }
            for search, curve in means.items():
                cells = " | ".join(f"{curve[c - 1]:.4f}" for c in checkpoints)
                print(f"| {name} | {search} | {cells} |")
            if args.trials >= 40:
                reached = means["mlnb default (TPE)"][19] >= means["mlnb RANDOM_SEARCH"][39]
                met += reached
                print(f"| {name} | default after 20 >= random after 40 | {'yes' if reached else 'no'} |")
        if args.trials >= 40 and not args.skip_search:
            print(f"\nAim: on at least 2 of 3 tasks; met on {met}.")
        if not args.skip_jobs:
            one = trials_per_minute(1, args.job_trials, root)
            two = trials_per_minute(2, args.job_trials, root)
            print("\n| maxParallelTrials | trials a minute |\n| --- | --- |")
            print(f"| 1 | {one:.1f} |\n| 2 | {two:.1f} |")
            print(f"\nRatio 2 : 1 = {two / one:.2f} (aim 1.7 or more)")


if __name__ == "__main__":
    main()
