"""Engine overhead of online prediction, per framework.

For each framework it times one ``Engine.predict`` call (instances as JSON
lists: validated, predicted, made JSON-ready) against the framework's own
predict call on the same instances, for 1 and for 100 instances, and prints
a table with the overhead and the ratio. Both start from the same Python
lists, as a request body gives them; the framework's call on a ready numpy
array is shown too, for reference.

    .venv/bin/python bench/predict_local.py [--repeat 2000] [--frameworks sklearn,xgboost,keras]

Aims (issue 2): under 50 us overhead for one scikit-learn instance, under
10 % for 100 instances.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from support import model_factory

import mlnb


def median_us(call: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``call`` in microseconds, after a warm-up."""
    for _ in range(max(10, repeat // 20)):
        call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


def framework_cases(root: Path, names: list[str]) -> list[tuple[str, Path, str, Callable[[np.ndarray], Any]]]:
    """(label, model folder, own call's name, own predict on a numpy array)."""
    cases: list[tuple[str, Path, str, Callable[[np.ndarray], Any]]] = []
    if "sklearn" in names:
        folder, model = model_factory.sklearn_logistic_dir(root / "sklearn")
        cases.append(("scikit-learn LogisticRegression", folder, "model.predict(X)", model.predict))
        folder, pipeline = model_factory.sklearn_pipeline_dir(root / "pipeline")
        cases.append(
            ("scikit-learn scaler+logistic pipeline", folder, "pipeline.predict(X)", pipeline.predict)
        )
    if "xgboost" in names:
        import xgboost as xgb

        folder, booster = model_factory.xgboost_booster_dir(root / "xgboost")
        cases.append(
            (
                "XGBoost Booster (5 trees)",
                folder,
                "booster.predict(DMatrix(X))",
                lambda x: booster.predict(xgb.DMatrix(x)),
            )
        )
    if "keras" in names:
        folder, keras_model = model_factory.keras_dir(root / "keras")
        cases.append(("Keras Dense 4-8-3", folder, "model.predict_on_batch(X)", keras_model.predict_on_batch))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--frameworks", default="sklearn,xgboost,keras")
    args = parser.parse_args()
    names = args.frameworks.split(",")
    features = model_factory.iris()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = mlnb.Engine(home=str(root / "home"))
        for index, (label, folder, own_name, own) in enumerate(framework_cases(root / "models", names)):
            model = f"m{index}"
            engine.create_model(model)
            version = engine.create_version(model, "v1", folder)
            assert version.state == "READY", version.error_message
            for count in (1, 100):
                batch = features[:count]
                instances = batch.tolist()
                repeat = args.repeat if count == 1 else max(200, args.repeat // 4)
                array_us = median_us(lambda b=batch, f=own: f(b), repeat)
                own_us = median_us(lambda i=instances, f=own: f(np.asarray(i)), repeat)
                engine_us = median_us(lambda i=instances, m=model: engine.predict(m, i), repeat)
                rows.append((label, own_name, count, array_us, own_us, engine_us))
        engine.close()
    print_table(rows)


def print_table(rows: list[tuple[str, str, int, float, float, float]]) -> None:
    header = (
        "framework",
        "own call",
        "n",
        "own(array) us",
        "own(lists) us",
        "engine us",
        "overhead us",
        "ratio",
    )
    lines = [header]
    for label, own_name, count, array_us, own_us, engine_us in rows:
        lines.append(
            (
                label,
                own_name,
                str(count),
                f"{array_us:.1f}",
                f"{own_us:.1f}",
                f"{engine_us:.1f}",
                f"{engine_us - own_us:.1f}",
                f"{engine_us / own_us:.3f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if number == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "\nengine us: Engine.predict(model, instances as JSON lists) -> JSON-ready list; "
        "own us: the framework's call on a numpy array; medians."
    )


if __name__ == "__main__":
    main()
