"""Explanations of image models: integrated gradients per pixel, and XRAI
(Kapishnikov et al., 2019), which ranks regions of the image rather than
pixels.

XRAI here: the image is over-segmented at several scales (k-means over
each pixel's position and colour, as SLIC superpixels are made), and
regions are taken greedily by the integrated-gradients attribution they add
per new pixel; each pixel's saliency is the gain of the region that took
it, so the first regions chosen are the brightest. The original uses
Felzenszwalb's segmentation and a black and a white baseline; this uses
k-means superpixels and the black (zero) baseline, or the version's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlnb.errors import FailedPrecondition
from mlnb.explain.attribution import Attribution, AttributionRun
from mlnb.explain.gradients import GradientFunction, path_integral

__all__ = ["explain_images", "xrai_saliency"]

# Superpixels at each scale: a coarse to a fine partition of the image.
SCALES = (4, 16, 64)


def explain_images(
    instances: Sequence[Any],
    gradients: GradientFunction,
    steps: int,
    input_name: str,
    xrai: bool,
    baseline: Any = None,
) -> AttributionRun:
    """Each image's attributions as a map of its height and width (summed
    over the colour channels): integrated gradients, or XRAI's region
    saliency when ``xrai``.

    Raises:
        FailedPrecondition: Instances that are not images of numbers of one size.
    """
    try:
        x = np.asarray(
            [i[input_name] if isinstance(i, dict) and input_name in i else i for i in instances], dtype=float
        )
    except (TypeError, ValueError) as e:
        raise FailedPrecondition(
            "An image model is explained from images as nested lists of numbers, all of one size"
        ) from e
    if x.ndim < 3:
        raise FailedPrecondition(f"The instances are not images: each has the shape {x.shape[1:]}")
    base = (
        np.zeros(x.shape[1:])
        if baseline is None
        else np.broadcast_to(np.asarray(baseline, float), x.shape[1:])
    )
    run = path_integral(x, base, gradients, steps)
    pixels = run.attributions.sum(axis=-1) if x.ndim == 4 else run.attributions  # (n, H, W)
    results = []
    for i, error in enumerate(run.errors()):
        shown = xrai_saliency(pixels[i], x[i]) if xrai else pixels[i]
        results.append(
            Attribution(
                label_index=int(run.labels[i]),
                example_score=float(run.example_scores[i]),
                baseline_score=float(run.baseline_scores[i]),
                approx_error=error,
                attributions={input_name: shown.tolist()},
            )
        )
    return AttributionRun(results, run.model_calls)


def superpixels(image: np.ndarray, count: int) -> np.ndarray:
    """(H, W) labels of about ``count`` regions of similar colour that lie together."""
    from sklearn.cluster import KMeans

    height, width = image.shape[:2]
    colour = image.reshape(height, width, -1)
    spread = float(colour.std()) or 1.0
    rows, cols = np.mgrid[0:height, 0:width]
    # Position counts as much as colour: compact regions, as SLIC's.
    points = np.concatenate(
        [rows[..., None] / height, cols[..., None] / width, 0.5 * colour / spread], axis=-1
    ).reshape(height * width, -1)
    count = max(1, min(count, height * width))
    labels = KMeans(n_clusters=count, n_init=1, random_state=0).fit_predict(points)
    return np.asarray(labels, dtype=int).reshape(height, width)


def xrai_saliency(attributions: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(H, W) saliency: regions taken greedily by attribution gained per new
    pixel; each pixel valued at the gain of the region that took it."""
    masks = [
        labels == label
        for count in SCALES
        for labels in [superpixels(image, count)]
        for label in np.unique(labels)
    ]
    covered = np.zeros(attributions.shape, dtype=bool)
    saliency = np.zeros(attributions.shape)
    while masks and not covered.all():
        best, best_gain, best_index = None, -np.inf, -1
        for index, mask in enumerate(masks):
            new = mask & ~covered
            area = int(new.sum())
            if area and (gain := float(attributions[new].sum()) / area) > best_gain:
                best, best_gain, best_index = new, gain, index
        if best is None:
            break
        saliency[best] = best_gain
        covered |= best
        masks.pop(best_index)
    return saliency
