"""Curve fitting with standard errors, Student-t intervals and straight-line slopes: the generic statistics a
study's analysis builds its fits and claims from (pure numpy/scipy, no I/O).

- :func:`fit_curve` — least squares (``scipy.optimize.curve_fit``) of any model, with the parameters' standard
  errors (square roots of the covariance diagonal), R² and RMSE; a failed or unidentifiable fit is *flagged*
  (``converged=False`` and a ``message``), never raised, so one bad fit cannot stop a report.
- :func:`t_interval` — mean and Student-t interval of a sample (e.g. one value per seed; paired differences when
  each value is already a per-seed difference).
- :func:`line_fit` — ordinary least-squares slope with its standard error and degrees of freedom.
- :func:`fit_parameter_scales` — the standard error of every fit parameter in a JSON document, the scale a published
  parameter is rounded and compared at (:mod:`dabench.stats.precision`).

References
----------
Bates DM, Watts DG. *Nonlinear Regression Analysis and Its Applications*. Wiley, 1988 (ch. 2: linear
approximation standard errors of least-squares estimates). Student (1908), The probable error of a mean,
*Biometrika* 6(1).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class FitResult:
    """A least-squares fit; ``converged`` is False, with a ``message``, when it failed (then every parameter, standard
    error, R² and RMSE is NaN). ``extra`` holds quantities an analysis attaches (e.g. where the data peak)."""

    model: str
    formula: str
    params: dict[str, float]
    stderr: dict[str, float]
    r2: float
    rmse: float
    n_points: int
    converged: bool
    message: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def failed_fit(model: str, formula: str, names: Sequence[str], n_points: int, message: str) -> FitResult:
    """A fit that could not be made (too few points, no finite start, ...): NaN parameters and ``message``."""
    log.info("%s fit did not converge: %s", model, message)
    nan = dict.fromkeys(names, math.nan)
    return FitResult(model, formula, dict(nan), dict(nan), math.nan, math.nan, n_points, False, message)


def fit_curve(
    fn: Callable[..., np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    p0: Sequence[float],
    *,
    model: str,
    formula: str,
    names: Sequence[str],
    maxfev: int = 20000,
) -> FitResult:
    """Unweighted least squares of ``y ≈ fn(x, *params)`` from the start point ``p0``.

    Never raises on a failed fit: fewer points than parameters plus one, a non-finite start, constant ``y`` (nothing
    to identify), an optimiser error and a covariance that cannot be estimated all give ``converged=False`` with a
    message saying which.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    n = int(np.asarray(y).size)
    if n <= len(p0):
        return failed_fit(model, formula, names, n, f"{n} finite points for {len(p0)} parameters; need more")
    if not np.all(np.isfinite(p0)):
        return failed_fit(model, formula, names, n, "no finite starting point")
    if np.ptp(y) == 0:
        return failed_fit(
            model, formula, names, n, f"all {n} values equal {y[0]:g}: the parameters are not identifiable"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, pcov = curve_fit(fn, x, y, p0=list(p0), maxfev=maxfev)
    except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        return failed_fit(model, formula, names, n, str(exc))
    stderr = np.sqrt(np.abs(np.diag(pcov)))
    resid = y - fn(x, *popt)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else math.nan
    converged = bool(np.all(np.isfinite(popt)) and np.all(np.isfinite(stderr)))
    message = "" if converged else "covariance could not be estimated: the parameters are not identifiable"
    return FitResult(
        model,
        formula,
        dict(zip(names, map(float, popt), strict=True)),
        dict(zip(names, map(float, stderr), strict=True)),
        r2,
        float(np.sqrt(np.mean(resid**2))),
        n,
        converged,
        message,
    )


def t_quantile(dof: int, level: float = 0.95) -> float:
    """The two-sided Student-t quantile for ``level`` with ``dof`` degrees of freedom (``dof >= 1``)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2.0, dof))


def t_half_width(values: np.ndarray, level: float = 0.95) -> float:
    """Half-width of the Student-t interval of the mean of ``values`` (at least two finite values)."""
    values = np.asarray(values, dtype=float)
    n = values.size
    return t_quantile(n - 1, level) * float(values.std(ddof=1)) / math.sqrt(n)


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the finite ``values`` with a Student-t interval; one value: a zero-width interval is
    not claimed, the bounds are NaN; none: all NaN."""
    finite = np.asarray([v for v in np.asarray(values, dtype=float).ravel() if math.isfinite(v)])
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(finite.mean())
    if finite.size < 2:
        return mean, math.nan, math.nan
    half = t_half_width(finite, level)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class LineFit:
    """``y ≈ intercept + slope · x`` by ordinary least squares; ``slope_stderr`` has ``dof = n − 2`` degrees of
    freedom (NaN with fewer than three points or constant ``x``)."""

    slope: float
    intercept: float
    slope_stderr: float
    dof: int

    def slope_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Student-t interval of the slope (NaN bounds when the standard error is undefined)."""
        if self.dof < 1 or not math.isfinite(self.slope_stderr):
            return math.nan, math.nan
        half = t_quantile(self.dof, level) * self.slope_stderr
        return self.slope - half, self.slope + half


def line_fit(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> LineFit:
    """Least-squares straight line through the finite ``(x, y)`` pairs."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    n = xs.size
    sxx = float(np.sum((xs - xs.mean()) ** 2)) if n else 0.0
    if n < 2 or sxx == 0:
        return LineFit(math.nan, math.nan, math.nan, max(n - 2, 0))
    slope = float(np.sum((xs - xs.mean()) * (ys - ys.mean())) / sxx)
    intercept = float(ys.mean() - slope * xs.mean())
    if n < 3:
        return LineFit(slope, intercept, math.nan, 0)
    resid = ys - (intercept + slope * xs)
    stderr = math.sqrt(float(np.sum(resid**2)) / (n - 2) / sxx)
    return LineFit(slope, intercept, stderr, n - 2)


def fit_parameter_scales(data: Any, path: JsonPath = ()) -> dict[JsonPath, float]:
    """In a JSON document, every fit (a mapping with ``params`` and ``stderr`` mappings, as
    :class:`FitResult` serialises) gives the path of each parameter with a finite standard error, mapped to that
    standard error: digits far below it move with the optimiser's stopping point, so the parameter is rounded and
    compared at ``max(|value|, stderr)`` (:func:`dabench.stats.precision.round_json`)."""
    scales: dict[JsonPath, float] = {}
    if isinstance(data, Mapping):
        params, stderr = data.get("params"), data.get("stderr")
        if isinstance(params, Mapping) and isinstance(stderr, Mapping):
            for name, err in stderr.items():
                if name in params and isinstance(err, float) and math.isfinite(err):
                    scales[(*path, "params", name)] = abs(err)
        for key, value in data.items():
            scales.update(fit_parameter_scales(value, (*path, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            scales.update(fit_parameter_scales(value, (*path, index)))
    return scales
