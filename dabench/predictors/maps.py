"""From a predictor's signal to a prediction: the signal itself and the least-squares maps fitted from it.

A benefit predictor's *signal* on a target is its predicted degradation ``source_value - target_score`` when it
gives a target score, else its ``shift_score`` (larger = farther from the source). A *map* turns the signal into a
predicted target score (a line) or a predicted benefit of adapting: ``linear``, or ``gaussian`` — paper 000's gain
as a Gaussian bump of the degradation, ``a * exp(-(s - mu)^2 / (2 sigma^2))`` — fitted by bounded least squares
from a start at the largest observed benefit; a Gaussian fit that fails falls back to the line and says why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dabench.errors import SpecError
from dabench.stats.fitting import line_fit


def signal_of(values: Mapping[str, float], source_value: float) -> float | None:
    """The predicted degradation ``source_value - target_score`` when ``values`` has a target score, else the
    shift score; None when neither is finite."""
    if "target_score" in values and math.isfinite(values["target_score"]):
        s = source_value - values["target_score"]
        return s if math.isfinite(s) else None
    shift = values.get("shift_score")
    return float(shift) if shift is not None and math.isfinite(shift) else None


@dataclass(frozen=True)
class FittedMap:
    """``linear``: ``intercept + slope * s``; ``gaussian``: ``a * exp(-(s - mu)^2 / (2 sigma^2))``."""

    kind: str
    params: Mapping[str, float]

    def __call__(self, signal: np.ndarray | float) -> np.ndarray:
        """The map at ``signal`` (same shape)."""
        s, p = np.asarray(signal, dtype=float), self.params
        if self.kind == "gaussian":
            return _gaussian_curve(s, p["a"], p["mu"], p["sigma"])
        return np.asarray(p["intercept"] + p["slope"] * s)


def linear_map(signal: np.ndarray, target: np.ndarray) -> FittedMap:
    """Least-squares line from ``signal`` to ``target`` (the mean when the signal is constant)."""
    fit = line_fit(signal, target)
    if math.isfinite(fit.slope):
        return FittedMap("linear", {"slope": fit.slope, "intercept": fit.intercept})
    return FittedMap("linear", {"slope": 0.0, "intercept": float(np.mean(target))})  # constant signal


def _gaussian_curve(s: np.ndarray, a: float, mu: float, sigma: float) -> np.ndarray:
    return np.asarray(a * np.exp(-((s - mu) ** 2) / (2.0 * sigma**2)))


def _gaussian(signal: np.ndarray, target: np.ndarray) -> tuple[FittedMap | None, str]:
    from scipy.optimize import OptimizeWarning, curve_fit

    n, span = signal.size, float(np.ptp(signal)) if signal.size else 0.0
    if n < 4:
        return None, f"{n} units for 3 parameters"
    if span == 0 or np.ptp(target) == 0:
        return None, "constant signal or benefit"
    peak = int(np.argmax(np.abs(target)))
    amax = 2.0 * float(np.max(np.abs(target)))
    lower, upper = [-amax, float(signal.min()) - span, span / 50.0], [amax, float(signal.max()) + span, 5 * span]
    start = [float(target[peak]), float(signal[peak]), span / 4.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, _ = curve_fit(_gaussian_curve, signal, target, p0=start, bounds=(lower, upper), maxfev=20000)
    except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        return None, str(exc).splitlines()[0]
    if not np.all(np.isfinite(popt)):
        return None, "non-finite parameters"
    return FittedMap("gaussian", dict(zip(("a", "mu", "sigma"), map(float, popt), strict=True))), ""


def fit_map(
    kind: str, signal: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray
) -> tuple[FittedMap, str]:
    """Least-squares ``kind`` map (``linear`` or ``gaussian``) from ``signal`` to ``target``; a Gaussian fit that
    fails gives the linear map and a note saying why ("" otherwise)."""
    s, y = np.asarray(signal, dtype=float), np.asarray(target, dtype=float)
    if kind == "gaussian":
        fitted, why = _gaussian(s, y)
        if fitted is not None:
            return fitted, ""
        return linear_map(s, y), f"gaussian fit failed ({why}); linear map used"
    if kind != "linear":
        raise SpecError(f"benefit map {kind!r} is not one of linear, gaussian.")
    return linear_map(s, y), ""
