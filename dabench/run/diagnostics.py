"""Shift diagnostics: how far a target domain is from the source, seen by the *unadapted* model, before adapting.

For every test domain that has unlabelled data of the same name in the task (a protocol with
``ProtocolSpec.diagnostics``), the runner records:

* latent distances between the unadapted model's latent features (:meth:`latent`: a U-Net's bottleneck *before*
  ReLU, averaged over space — one value per channel; a classifier's feature extractor) of the source test images and
  of that domain's unlabelled images: ``latent_bhattacharyya`` (mean over dimensions of the 1-D Gaussian
  Bhattacharyya distance — the paper's per-dimension projection), ``latent_w2_gaussian`` (2-Wasserstein between
  Gaussians fitted to the features), ``latent_sliced_w2`` (sliced 2-Wasserstein, 256 seeded directions) and
  ``latent_mmd`` (squared RBF MMD, median bandwidth);
* baselines that need no model: ``pixel_mean_diff`` and ``pixel_std_diff`` (absolute differences of the pixel mean
  and standard deviation), and ``entropy`` (mean prediction entropy in nats of the unadapted model on the domain's
  unlabelled images; per pixel for segmentation).

Only images are used, never target labels. "Unadapted" is the predictor's ``source_predictor()`` when it has one
(AdaBN: the source BatchNorm statistics), else its ``for_domain("source", ...)``, else the predictor itself. Sample
counts are capped at :data:`MAX_SAMPLES` per side (a seeded subsample) so the cost stays bounded.

References
----------
Stenger A et al. (shared/papers/batchnorm-adaptation-fibsem-segmentation): latent distributions of the U-Net taken
before ReLU, projected per dimension, and the Wasserstein / sliced Wasserstein / Bhattacharyya distances as
predictors of the benefit of BatchNorm adaptation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dabench.seeding import Seeds, subsample
from dabench.stats import distances

MAX_SAMPLES = 500
"""At most this many images per side enter the distances (seeded subsample): 500 points give the per-dimension
moments to about 5 % and keep a 20-domain grid's diagnostics to seconds."""

SLICED_PROJECTIONS = 256

DIAGNOSTICS = (
    "latent_bhattacharyya",
    "latent_w2_gaussian",
    "latent_sliced_w2",
    "latent_mmd",
    "pixel_mean_diff",
    "pixel_std_diff",
    "entropy",
)
"""The names a record's ``diagnostics[domain]`` holds (latent ones only when the model exposes latent features)."""


def unadapted(predictor: Any, source_images: torch.Tensor) -> Any:
    """The predictor as trained on the source, before any adaptation (see the module docstring)."""
    source_predictor = getattr(predictor, "source_predictor", None)
    if callable(source_predictor):
        return source_predictor()
    for_domain = getattr(predictor, "for_domain", None)
    return for_domain("source", source_images) if callable(for_domain) else predictor


def latent_features(predictor: Any, images: torch.Tensor) -> np.ndarray | None:
    """``[N, D]`` float64 latent features, or None when the predictor exposes none."""
    for name in ("latent", "features"):
        fn = getattr(predictor, name, None)
        if callable(fn):
            try:
                out = fn(images)
            except AttributeError:  # a ModelPredictor whose model has no such sub-module
                continue
            return out.reshape(len(images), -1).double().numpy()
    return None


def latent_and_logits(predictor: Any, images: torch.Tensor) -> tuple[np.ndarray | None, torch.Tensor]:
    """Latent features (or None) and logits, from one forward pass where the predictor offers one: a model naming a
    ``latent_layer`` (the U-Net) through ``latent_with_logits``, a classifier through ``predict_with_features``."""
    model = getattr(predictor, "model", None)
    if isinstance(getattr(model, "latent_layer", None), str) and callable(
        getattr(predictor, "latent_with_logits", None)
    ):
        latent, logits = predictor.latent_with_logits(images)
        return latent.reshape(len(images), -1).double().numpy(), logits
    both = getattr(predictor, "predict_with_features", None)
    if callable(both):
        logits, features = both(images)
        if features is not None:
            return features.reshape(len(images), -1).double().numpy(), logits
        return None, logits
    return latent_features(predictor, images), predictor.predict(images)


def mean_entropy(logits: torch.Tensor) -> float:
    """Mean entropy (nats) of the softmax over dimension 1 (classes), over samples and pixels."""
    logp = torch.log_softmax(logits.double(), dim=1)
    return float(-(logp.exp() * logp).sum(dim=1).mean())


def latent_distances(source: np.ndarray, target: np.ndarray, seed: int) -> dict[str, float]:
    """The four latent distances between feature samples ``[n, D]`` and ``[m, D]``."""
    return {
        "latent_bhattacharyya": float(np.mean(distances.bhattacharyya_per_dimension(source, target))),
        "latent_w2_gaussian": distances.gaussian_wasserstein(source, target),
        "latent_sliced_w2": distances.sliced_wasserstein(source, target, n_projections=SLICED_PROJECTIONS, seed=seed),
        "latent_mmd": distances.mmd_rbf(source, target, seed=seed),
    }


def diagnose(
    predictor: Any,
    source_test: torch.Tensor,
    unlabeled: Mapping[str, Any],
    domains: list[str],
    seeds: Seeds,
) -> dict[str, dict[str, float]]:
    """``{domain: {diagnostic: value}}`` for every name of ``domains`` that ``unlabeled`` has (see the module
    docstring); ``source_test`` are the source test images. Non-finite values are left out."""
    model = unadapted(predictor, source_test)
    source_idx = subsample(seeds, len(source_test), MAX_SAMPLES, "diagnostics/source")
    source_images = source_test[source_idx]
    source_latent = latent_features(model, source_images)
    source_pixels = source_images.double()
    out: dict[str, dict[str, float]] = {}
    for domain in domains:
        if domain == "source" or domain not in unlabeled:
            continue
        images = unlabeled[domain].images
        idx = subsample(seeds, len(images), MAX_SAMPLES, f"diagnostics/{domain}")
        target_images = images[idx]
        pixels = target_images.double()
        target_latent, logits = latent_and_logits(model, target_images)
        values: dict[str, float] = {
            "pixel_mean_diff": abs(float(pixels.mean()) - float(source_pixels.mean())),
            "pixel_std_diff": abs(float(pixels.std()) - float(source_pixels.std())),
            "entropy": mean_entropy(logits),
        }
        if source_latent is not None and target_latent is not None:
            values.update(latent_distances(source_latent, target_latent, seeds.int(f"diagnostics/{domain}/sw")))
        out[domain] = {k: v for k, v in values.items() if math.isfinite(v)}
    return out
