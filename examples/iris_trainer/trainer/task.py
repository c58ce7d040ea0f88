"""An ML Engine-style trainer: trains an iris classifier and exports it to
--job-dir as model.joblib. Run it as a job:

    mlnb jobs submit training iris_1 --package-path examples/iris_trainer/trainer \
        --module-name trainer.task --job-dir runs/iris_1 -- --C 0.5
"""

import argparse
import json
import os

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-dir", required=True)
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    print(f"training as {task.get('type', 'master')}-replica-{task.get('index', 0)} with C={args.C}")
    features, labels = load_iris(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(features, labels, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=500)).fit(train_x, train_y)
    print(f"held-out accuracy: {model.score(test_x, test_y):.3f}")
    os.makedirs(args.job_dir, exist_ok=True)
    joblib.dump(model, os.path.join(args.job_dir, "model.joblib"))
    print(f"exported to {os.path.join(args.job_dir, 'model.joblib')}")


if __name__ == "__main__":
    main()
