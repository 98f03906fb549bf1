"""The DANN paper's fits: a sigmoid for the degradation over test intensity, a gaussian × quadratic for the gain
over (test intensity, DA intensity), by least squares with standard errors (:mod:`dabench.stats.fitting`).

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), section IV-A:
"a sigmoidal relation between noise intensity and performance degradation"; the gain is "the product of two
univariate functions: a gaussian function dependent on the noise intensity, and a quadratic function dependent on
the DA intensity" (Fig. 5b/c).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np

from dabench.stats.fitting import FitResult, failed_fit, fit_curve
from dabench_dann_study.decomposition import Decomposition

SIGMOID = "d_max / (1 + exp(-k (i - i0)))"
GAUSSIAN_QUADRATIC = "exp(-(i - mu)^2 / (2 sigma^2)) (a j^2 + b j + c)"


def sigmoid(i: np.ndarray, d_max: float, k: float, i0: float) -> np.ndarray:
    """Degradation model ``d(i) = d_max / (1 + exp(-k (i - i0)))`` (paper: a "sigmoidal relation")."""
    with np.errstate(over="ignore"):
        return d_max / (1.0 + np.exp(-k * (np.asarray(i, dtype=float) - i0)))


def gaussian_quadratic(x: np.ndarray, mu: float, sigma: float, a: float, b: float, c: float) -> np.ndarray:
    """Gain model ``g(i, j) = exp(-(i - mu)^2 / (2 sigma^2)) (a j^2 + b j + c)``; ``x`` is ``[2, n]`` = (i, j)."""
    i, j = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return np.exp(-((i - mu) ** 2) / (2.0 * sigma**2)) * (a * j**2 + b * j + c)


def fit_degradation(decomposition: Decomposition, *, maxfev: int = 20000) -> FitResult:
    """Fit the sigmoid to the mean degradation over test intensity (unweighted least squares; a failed fit is
    flagged ``converged=False``, never raised)."""
    x = np.asarray(decomposition.test_intensities, dtype=float)
    y = np.asarray(decomposition.degradation.value, dtype=float)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    names = ("d_max", "k", "i0")
    if y.size == 0:
        return failed_fit("sigmoid", SIGMOID, names, 0, "no finite degradation values")
    d_max = float(y.max()) if y.max() > 0 else 1e-3
    span = float(np.ptp(x)) or 1.0
    above = x[y >= d_max / 2.0]
    i0 = float(above.min()) if above.size else float(np.median(x))
    return fit_curve(
        sigmoid, x, y, (d_max, 10.0 / span, i0), model="sigmoid", formula=SIGMOID, names=names, maxfev=maxfev
    )


def fit_gain(decomposition: Decomposition, *, maxfev: int = 20000) -> FitResult:
    """Fit the gaussian × quadratic to the mean gain over (test i, DA j).

    The gaussian has unit height (its scale lives in the quadratic); ``sigma`` is reported as ``|sigma|``. The start
    point takes ``mu`` at the test intensity of the largest DA-averaged gain and solves ``a, b, c`` linearly. The
    location and value of the largest observed gain are in ``extra``. Never raises on a failed fit.
    """
    d = decomposition
    ii, jj = np.meshgrid(d.test_intensities, d.da_intensities, indexing="ij")
    y_all = np.asarray(d.gain.value, dtype=float)
    ok = np.isfinite(y_all)
    x, y = np.vstack([ii[ok], jj[ok]]), y_all[ok]
    names = ("mu", "sigma", "a", "b", "c")
    best, at_i, at_j = d.max_gain()
    extra = {"max_gain": best, "max_gain_test_intensity": at_i, "max_gain_da_intensity": at_j}
    if np.unique(x[1]).size < 3:
        result = failed_fit(
            "gaussian_quadratic", GAUSSIAN_QUADRATIC, names, int(y.size), "need at least 3 distinct DA intensities"
        )
        return dataclasses.replace(result, extra=extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        profile = np.nanmean(np.where(ok, y_all, np.nan), axis=1)
    mu = float(d.test_intensities[int(np.nanargmax(profile))]) if np.isfinite(profile).any() else 0.0
    sigma = (float(np.ptp(x[0])) or 1.0) / 4.0
    g = np.exp(-((x[0] - mu) ** 2) / (2 * sigma**2))
    abc = np.linalg.lstsq(np.column_stack([g * x[1] ** 2, g * x[1], g]), y, rcond=None)[0]
    result = fit_curve(
        gaussian_quadratic,
        x,
        y,
        (mu, sigma, *abc),
        model="gaussian_quadratic",
        formula=GAUSSIAN_QUADRATIC,
        names=names,
        maxfev=maxfev,
    )
    params = {**result.params, "sigma": abs(result.params["sigma"])}
    return dataclasses.replace(result, params=params, extra=extra)


def fit_all(decompositions: Sequence[Decomposition]) -> list[dict[str, FitResult]]:
    """``{"degradation": fit_degradation(d), "gain": fit_gain(d)}`` for each decomposition."""
    return [{"degradation": fit_degradation(d), "gain": fit_gain(d)} for d in decompositions]
