"""Third-party framework adapters through the ``mlnb.frameworks`` entry
point: a working one deploys and predicts; a broken one fails only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlnb.api import Engine
from mlnb.errors import MlnbError

pytestmark = pytest.mark.integration

CSV_PLUGIN = """
from pathlib import Path

import numpy as np


class DotPredictor:
    def __init__(self, weights):
        self.weights = weights

    def predict(self, instances, **kwargs):
        return np.asarray(instances, dtype=float) @ self.weights


class CsvAdapter:
    name = "CSV_LINEAR"
    aliases = ("csv-linear",)
    file_patterns = ("weights.csv",)

    def detect(self, model_dir):
        return (Path(model_dir) / "weights.csv").is_file()

    def load(self, model_dir, options):
        text = (Path(model_dir) / "weights.csv").read_text()
        return DotPredictor(np.array([float(v) for v in text.split(",")]))

    def save(self, model, model_dir):
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        path = Path(model_dir) / "weights.csv"
        path.write_text(",".join(str(v) for v in model))
        return path
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    info = site / "mlnb_test_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlnb-test-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[mlnb.frameworks]\ncsv_linear = csv_plugin:CsvAdapter\nbroken = broken_plugin:Adapter\n"
    )
    (site / "csv_plugin.py").write_text(CSV_PLUGIN)
    (site / "broken_plugin.py").write_text("raise RuntimeError('this plugin is broken')\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_plugin_adapter_is_detected_and_serves(plugins: Path, engine: Engine, tmp_path: Path) -> None:
    assert "CSV_LINEAR" in engine.frameworks()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.csv").write_text("1,2,3")
    engine.create_model("lin")
    version = engine.create_version("lin", "v1", tmp_path / "m")
    assert (version.state, version.framework) == ("READY", "CSV_LINEAR")
    assert engine.predict("lin", [[1, 1, 1], [0, 0, 2]]) == [6.0, 6.0]


def test_a_broken_plugin_fails_only_when_used(
    plugins: Path, engine: Engine, sklearn_model: tuple[Path, object]
) -> None:
    engine.create_model("m")
    assert engine.create_version("m", "v1", sklearn_model[0]).state == "READY"
    with pytest.raises(MlnbError, match="The framework plugin 'BROKEN' failed to load: RuntimeError"):
        engine.create_version("m", "v2", sklearn_model[0], framework="broken")
    # import mlnb is untouched by it.
    code = "import mlnb; print(mlnb.__version__)"
    env_path = f"{plugins}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": env_path}, check=True
    )
    assert done.stdout.strip() == mlnb_version()


def mlnb_version() -> str:
    import mlnb

    return mlnb.__version__
