"""Shift scores (larger = farther from the source): latent distances, pixel statistics and the entropy gap. None
estimates a target score; each gives ``shift_score`` only, mapped to a benefit by a fit on held-out studies.

* **Latent distances** (Stenger et al.: latent distributions taken before the non-linearity predict the benefit of
  BatchNorm adaptation), between the source validation features ``X`` and the target features ``Y`` (each side at
  most :data:`MAX_FEATURES` rows, a seeded subsample), from :mod:`dabench.stats.distances`:
  ``latent_bhattacharyya`` — the mean over dimensions of the 1-D Gaussian Bhattacharyya distance
  ``(mu_x - mu_y)^2 / (4 (s_x^2 + s_y^2)) + ln((s_x^2 + s_y^2) / (2 s_x s_y)) / 2`` (the paper's per-dimension
  projection); ``latent_w2_gaussian`` — the 2-Wasserstein distance between Gaussians fitted to ``X`` and ``Y``,
  ``|mu_x - mu_y|^2 + tr(S_x + S_y - 2 (S_x^1/2 S_y S_x^1/2)^1/2)`` under the root; ``latent_sliced_w2`` — the sliced
  2-Wasserstein distance over :data:`SLICED_PROJECTIONS` seeded directions; ``latent_mmd`` — the unbiased squared
  RBF MMD with the median-heuristic bandwidth (seeded).
* **Pixel statistics** (the "no representation" baseline of Rabanser et al.'s shift-detection study, reduced to
  moments): ``pixel_mean_diff = |mean(x_S) - mean(x_T)|`` and ``pixel_std_diff = |std(x_S) - std(x_T)|`` over every
  pixel and channel of the source validation and target images (``std`` with ``ddof = 1``).
* **Entropy gap** (Wang et al.: the prediction entropy grows with the shift and the error, which Tent minimises):
  ``mean_T H(p) - mean_S H(p)``, ``H`` the entropy in nats of the temperature-scaled softmax ``p`` (per pixel for
  segmentation).

References
----------
Stenger A, Baudrier É, Faisan S (supervisors). Exploring deep learning domain adaptation performance: from covariate
shift to Wasserstein and beyond. Presentation, 2023 (shared/papers/batchnorm-adaptation-fibsem-segmentation.txt).
Rabanser S, Günnemann S, Lipton ZC. Failing Loudly: An Empirical Study of Methods for Detecting Dataset Shift.
NeurIPS 2019.
Wang D, Shelhamer E, Liu S, Olshausen B, Darrell T. Tent: Fully Test-Time Adaptation by Entropy Minimization.
ICLR 2021.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dabench.benefitspecs import BenefitFn, BenefitInputs, BenefitOutput, BenefitPredictorSpec, Citation
from dabench.errors import SpecError
from dabench.predictors.builtin._common import BOTH, calibrated, entropy, subsample_rows
from dabench.stats import distances

MAX_FEATURES = 500
SLICED_PROJECTIONS = 256

STENGER_2023 = Citation(
    authors="Stenger, A.; Baudrier, É.; Faisan, S. (supervisors)",
    title="Exploring deep learning domain adaptation performance: from covariate shift to Wasserstein and beyond",
    year=2023,
    venue="shared/papers/batchnorm-adaptation-fibsem-segmentation.txt",
)
RABANSER_2019 = Citation(
    authors="Stephan Rabanser, Stephan Günnemann, Zachary C. Lipton",
    title="Failing Loudly: An Empirical Study of Methods for Detecting Dataset Shift",
    year=2019,
    venue="NeurIPS",
    url="https://arxiv.org/abs/1810.11953",
)
WANG_2021 = Citation(
    authors="Dequan Wang, Evan Shelhamer, Shaoteng Liu, Bruno Olshausen, Trevor Darrell",
    title="Tent: Fully Test-Time Adaptation by Entropy Minimization",
    year=2021,
    venue="ICLR",
    url="https://arxiv.org/abs/2006.10726",
)

Distance = Callable[[np.ndarray, np.ndarray, int], float]


def latent_pair(inputs: BenefitInputs) -> tuple[np.ndarray, np.ndarray]:
    """Source validation and target features ``[n, D]``, ``[m, D]``, each at most :data:`MAX_FEATURES` rows."""
    xs, xt = inputs.source.features, inputs.target.features
    if xs is None or xt is None:
        raise SpecError("latent distances need latent features on both sides; this model exposes none.")
    xs = np.asarray(xs, dtype=np.float64).reshape(len(xs), -1)
    xt = np.asarray(xt, dtype=np.float64).reshape(len(xt), -1)
    return subsample_rows(xs, MAX_FEATURES, inputs.seed), subsample_rows(xt, MAX_FEATURES, inputs.seed)


def _bhattacharyya(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    return float(np.mean(distances.bhattacharyya_per_dimension(x, y)))


def _w2_gaussian(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    return distances.gaussian_wasserstein(x, y)


def _sliced_w2(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    return distances.sliced_wasserstein(x, y, n_projections=SLICED_PROJECTIONS, seed=seed)


def _mmd(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    return distances.mmd_rbf(x, y, seed=seed)


def latent_predictor(distance: Distance) -> BenefitFn:
    """A predictor whose ``shift_score`` is ``distance(source features, target features, seed)``."""

    def fn(inputs: BenefitInputs) -> BenefitOutput:
        x, y = latent_pair(inputs)
        return BenefitOutput(shift_score=float(distance(x, y, inputs.seed)))

    return fn


def _pixels(images: np.ndarray) -> np.ndarray:
    values = np.asarray(images, dtype=np.float64).reshape(-1)
    if values.size < 2:
        raise SpecError("pixel statistics need images with at least two pixel values on each side.")
    return values


def _std(values: np.ndarray) -> float:
    centred = values - values.mean()
    return float(np.sqrt(np.dot(centred, centred) / (values.size - 1)))


def pixel_mean_diff(inputs: BenefitInputs) -> BenefitOutput:
    """``|mean(source pixels) - mean(target pixels)|``."""
    s, t = _pixels(inputs.source.images), _pixels(inputs.target.images)
    return BenefitOutput(shift_score=abs(float(s.mean() - t.mean())))


def pixel_std_diff(inputs: BenefitInputs) -> BenefitOutput:
    """``|std(source pixels) - std(target pixels)|`` (``ddof = 1``)."""
    return BenefitOutput(shift_score=abs(_std(_pixels(inputs.source.images)) - _std(_pixels(inputs.target.images))))


def entropy_gap(inputs: BenefitInputs) -> BenefitOutput:
    """Mean prediction entropy (nats, temperature-scaled) on the target minus on the source validation data."""
    view = calibrated(inputs)
    return BenefitOutput(shift_score=float(entropy(view.target_probs).mean() - entropy(view.source_probs).mean()))


def _latent_spec(name: str, distance: Distance, description: str) -> BenefitPredictorSpec:
    return BenefitPredictorSpec(
        name=name,
        fn=latent_predictor(distance),
        paper=STENGER_2023,
        description=description,
        task_types=BOTH,
        needs_features=True,
    )


SHIFT_PREDICTORS = (
    _latent_spec(
        "latent_bhattacharyya",
        _bhattacharyya,
        "Mean per-dimension Gaussian Bhattacharyya distance between source and target latent features.",
    ),
    _latent_spec(
        "latent_w2_gaussian",
        _w2_gaussian,
        "2-Wasserstein distance between Gaussians fitted to source and target latent features.",
    ),
    _latent_spec(
        "latent_sliced_w2",
        _sliced_w2,
        "Sliced 2-Wasserstein distance (256 seeded directions) between source and target latent features.",
    ),
    _latent_spec(
        "latent_mmd",
        _mmd,
        "Unbiased squared RBF MMD (median bandwidth) between source and target latent features.",
    ),
    BenefitPredictorSpec(
        name="pixel_mean_diff",
        fn=pixel_mean_diff,
        paper=RABANSER_2019,
        description="Absolute difference of the mean pixel value of source and target images.",
        task_types=BOTH,
    ),
    BenefitPredictorSpec(
        name="pixel_std_diff",
        fn=pixel_std_diff,
        paper=RABANSER_2019,
        description="Absolute difference of the pixel standard deviation of source and target images.",
        task_types=BOTH,
    ),
    BenefitPredictorSpec(
        name="entropy_gap",
        fn=entropy_gap,
        paper=WANG_2021,
        description="Mean prediction entropy (temperature-scaled, nats) on the target minus on the source.",
        task_types=BOTH,
    ),
)
