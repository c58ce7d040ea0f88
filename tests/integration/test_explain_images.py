"""Image models explained end to end (a Keras file deployed, explained
through the Engine): integrated gradients per pixel and XRAI's regions, on
a model whose answer depends on one quadrant of the image only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlnb.api import Engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE = 8


def quadrant_model(folder: Path) -> Any:
    """Two classes; class 1's logit is the sum of the top-left quadrant's
    pixels, class 0's a constant: nothing else matters."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(SIZE, SIZE, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    weights = np.zeros((SIZE * SIZE, 2))
    mask = np.zeros((SIZE, SIZE))
    mask[: SIZE // 2, : SIZE // 2] = 1.0
    weights[:, 1] = mask.reshape(-1) * 0.5
    model.layers[-1].set_weights([weights, np.array([1.0, 0.0])])
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    return model


@pytest.fixture
def deployed(home: Path, tmp_path: Path) -> Any:
    model = quadrant_model(tmp_path / "quadrant")
    engine = Engine(home=str(home))
    engine.deploy("digits", "xrai", tmp_path / "quadrant")
    engine.deploy(
        "digits",
        "gradients",
        tmp_path / "quadrant",
        explanation_config={"integratedGradientsAttribution": {"numIntegralSteps": 100}},
    )
    yield engine, model
    engine.close()


def images() -> list[Any]:
    rng = np.random.default_rng(0)
    pictures = rng.uniform(0, 0.2, size=(3, SIZE, SIZE, 1))
    pictures[:, : SIZE // 2, : SIZE // 2] += 1.0  # a bright top-left quadrant: class 1
    return pictures.tolist()


def test_integrated_gradients_give_the_pixels_the_model_reads_all_the_attribution(deployed: Any) -> None:
    engine, model = deployed
    answer = engine.explain("digits", images(), version="gradients")
    assert answer["method"] == "integratedGradientsAttribution"
    assert answer["attributionShape"].startswith("input")
    probabilities = np.asarray(model.predict_on_batch(np.asarray(images(), dtype="float32")))
    for i, explanation in enumerate(answer["explanations"]):
        (label,) = explanation["attributions_by_label"]
        (name,) = label["attributions"]
        pixels = np.asarray(label["attributions"][name])
        assert pixels.shape == (SIZE, SIZE)
        assert label["label_index"] == 1
        assert label["example_score"] == pytest.approx(float(probabilities[i, 1]), abs=1e-5)
        outside = pixels.copy()
        outside[: SIZE // 2, : SIZE // 2] = 0
        assert np.abs(outside).max() == 0.0  # the model never reads them
        assert pixels[: SIZE // 2, : SIZE // 2].min() > 0
        total = pixels.sum()
        error = max(label["approx_error"] * np.abs(pixels).sum(), 1e-6)
        assert total == pytest.approx(label["example_score"] - label["baseline_score"], abs=1.01 * error)
        assert label["approx_error"] < 0.01


def test_an_image_model_is_explained_with_xrai_by_default(deployed: Any) -> None:
    engine, _ = deployed
    answer = engine.explain("digits", images(), version="xrai")
    assert answer["method"] == "xraiAttribution" and answer["numIntegralSteps"] == 50
    for explanation in answer["explanations"]:
        (label,) = explanation["attributions_by_label"]
        (saliency,) = label["attributions"].values()
        saliency = np.asarray(saliency)
        inside = saliency[: SIZE // 2, : SIZE // 2]
        outside = np.concatenate([saliency[SIZE // 2 :].ravel(), saliency[: SIZE // 2, SIZE // 2 :].ravel()])
        # The regions over the quadrant the model reads come first, brightest.
        assert inside.mean() > 0 and outside.max() <= inside.mean()
        assert saliency.max() == pytest.approx(inside.max())
