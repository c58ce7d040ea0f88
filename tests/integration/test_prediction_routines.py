"""Custom prediction routines packaged as Google's tutorials package them:
an sdist built by ``setup(scripts=[...])`` (the modules land in the
install's ``bin/``), a preprocessor pickled beside the model, and a
``predict(instances, **kwargs)`` that reads the request's other fields
(``{"instances": [...], "probabilities": true}``) from every face."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from starlette.testclient import TestClient
from support import model_factory

from mlnb.api import Engine
from mlnb.server import create_app

pytestmark = pytest.mark.integration

PREDICTOR = '''
import os
import pickle

import joblib
import numpy as np


class CenteredClassifier:
    """Centers the features as it was trained to, then classifies."""

    def __init__(self, model, centerer):
        self._model = model
        self._centerer = centerer

    def predict(self, instances, **kwargs):
        features = self._centerer.center(np.asarray(instances, dtype=float))
        if kwargs.get("probabilities"):
            return self._model.predict_proba(features).tolist()
        return self._model.predict(features).tolist()

    @classmethod
    def from_path(cls, model_dir):
        model = joblib.load(os.path.join(model_dir, "model.joblib"))
        with open(os.path.join(model_dir, "preprocessor.pkl"), "rb") as f:
            centerer = pickle.load(f)
        return cls(model, centerer)
'''

PREPROCESS = """
class Centerer:
    def fit(self, features):
        self.means = features.mean(axis=0)
        return self

    def center(self, features):
        return features - self.means
"""

# The tutorial's setup.py, with the one change setuptools 61 and later
# need to build it at all (py_modules=[]: no flat-layout discovery; the
# README's "Running older ML Engine samples" names it).
SETUP = """
from setuptools import setup

setup(name="my_custom_code", version="0.1", scripts=["predictor.py", "preprocess.py"], py_modules=[])
"""


@pytest.fixture(scope="module")
def routine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any, Any]:
    """The tutorial's layout: its sdist, built as its notebook builds it,
    and a model folder with model.joblib and preprocessor.pkl."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("cpr")
    source = root / "source"
    source.mkdir()
    (source / "predictor.py").write_text(PREDICTOR)
    (source / "preprocess.py").write_text(PREPROCESS)
    (source / "setup.py").write_text(SETUP)
    subprocess.run(
        [sys.executable, "setup.py", "sdist", "--formats=gztar"], cwd=source, check=True, capture_output=True
    )
    sdist = source / "dist" / "my_custom_code-0.1.tar.gz"
    assert sdist.is_file()
    # The preprocessor is pickled as the tutorial pickles it: by its module's name.
    sys.path.insert(0, str(source))
    try:
        import preprocess

        features, labels = model_factory.iris()
        centerer = preprocess.Centerer().fit(features)
        model = LogisticRegression(max_iter=500).fit(centerer.center(features), labels)
        model_dir = root / "model"
        model_dir.mkdir()
        joblib.dump(model, model_dir / "model.joblib")
        with open(model_dir / "preprocessor.pkl", "wb") as f:
            pickle.dump(centerer, f)
    finally:
        sys.path.remove(str(source))
        sys.modules.pop("preprocess", None)
    return model_dir, sdist, model, centerer


SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def test_a_routine_packaged_with_scripts_deploys_and_reads_the_requests_fields(
    engine: Engine,
    routine: tuple[Path, Path, Any, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_dir, sdist, model, centerer = routine
    engine.create_model("cpr")
    version = engine.create_version(
        "cpr", "v1", model_dir, prediction_class="predictor.CenteredClassifier", package_uris=[sdist]
    )
    assert (version.state, version.error_message) == ("READY", None)
    centered = centerer.center(np.asarray(SAMPLES))
    classes = model.predict(centered).tolist()
    probabilities = model.predict_proba(centered).tolist()

    assert engine.predict("cpr", SAMPLES) == classes
    np.testing.assert_allclose(
        engine.predict("cpr", SAMPLES, parameters={"probabilities": True}), probabilities
    )

    with TestClient(create_app(engine=engine)) as client:
        url = "/v1/projects/default/models/cpr:predict"
        plain = client.post(url, json={"instances": SAMPLES}).json()
        asked = client.post(url, json={"instances": SAMPLES, "probabilities": True}).json()
    assert plain == {"predictions": classes}
    np.testing.assert_allclose(asked["predictions"], probabilities)

    from mlnb.cli import main

    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": SAMPLES, "probabilities": True}))
    monkeypatch.setenv("MLNB_HOME", str(engine.settings.home))
    assert main(["predict", "--model", "cpr", "--json-request", str(request), "--format", "json"]) == 0
    np.testing.assert_allclose(json.loads(capsys.readouterr().out)["predictions"], probabilities)
