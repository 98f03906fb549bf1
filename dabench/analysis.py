"""The DANN paper's regression model: accuracy = reference − degradation − cost + gain, from stored run records.

One training (a method at one DA intensity ``j``, one seed) is evaluated on every test-shift intensity ``i``; its
record holds the metric per domain ``test@<i:g>``. Writing ``so(i)`` for the raw CNN (``source_only``) and
``da_j(i)`` for the DA model trained at DA intensity ``j``:

- reference ``= so(0)``;
- degradation ``(i) = so(0) − so(i)``, the drop due to the test shift;
- cost ``(j) = so(0) − da_j(0)``, the drop due to DA training without test shift;
- gain ``(i, j) = da_j(i) − (reference − degradation(i) − cost(j)) = [da_j(i) − da_j(0)] − [so(i) − so(0)]``.

Every term is a linear combination of per-training scores, computed from the seed means of those scores, so the
identity holds for the means up to floating-point rounding. Intervals (95%): Student-t across the seeds that have
every score a term needs when there are at least two such seeds (paired, so seed-to-seed variation shared between
the scores cancels); otherwise the half-widths of the scores (the records' bootstrap half-widths for a single seed,
Student-t across a score's own seeds when it has several) are added in quadrature, *assuming the scores are
independent* (they are not exactly: the test images are the same at every intensity, which usually makes the
quadrature interval conservative).

References
----------
The DANN inter-semantic histopathology study
(shared/papers/dann-intersemantic-histopathology.txt): "Regression model" (section III-E), Fig. 4, section IV (a
"sigmoidal relation between noise intensity and performance degradation"; gain "the product of two univariate
functions: a gaussian function dependent on the noise intensity, and a quadratic function dependent on the DA
intensity"), Fig. 5a/7a (accuracy curves per DA dataset).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dabench.errors import SpecError

log = logging.getLogger(__name__)

BASELINE = "source_only"
DOMAIN_PREFIX = "test@"
Scores = dict[int, dict[float, tuple[float, float]]]  # seed -> test intensity -> (value, bootstrap half-width)
Term = tuple[Any, float]  # (training: "so" or a DA intensity, test intensity)


@dataclass(frozen=True)
class Band:
    """A point estimate with its 95% interval; arrays of any shape (0-d for a scalar)."""

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Decomposition:
    """The four terms of the paper's regression model for one DA group, averaged over seeds.

    ``accuracy`` is the DA model's score ``[n_test, n_da]`` and ``baseline`` the raw CNN's ``[n_test]``; both are in
    units of ``metric`` (named after the paper's accuracy, whatever the metric is). ``gain`` is ``[n_test, n_da]``.
    """

    method: str
    dataset: str
    da_dataset: str
    da_shift: str
    test_shift: str
    metric: str
    test_intensities: np.ndarray
    da_intensities: np.ndarray
    reference: Band
    degradation: Band
    cost: Band
    gain: Band
    accuracy: Band
    baseline: Band
    n_seeds: int
    n_seeds_reference: int

    @property
    def label(self) -> str:
        return f"{self.method} on {self.dataset}, DA {self.da_dataset} ({self.da_shift}), test shift {self.test_shift}"

    def max_gain(self) -> tuple[float, float, float]:
        """(gain, test intensity, DA intensity) of the largest observed mean gain (paper: 0.50 at test 1.1, DA 0.5)."""
        gain = np.asarray(self.gain.value, dtype=float)
        if not np.isfinite(gain).any():
            return math.nan, math.nan, math.nan
        i, j = np.unravel_index(int(np.nanargmax(gain)), gain.shape)
        return float(gain[i, j]), float(self.test_intensities[i]), float(self.da_intensities[j])


@dataclass(frozen=True)
class FitResult:
    """A least-squares fit (scipy.optimize.curve_fit); ``converged`` is False, with a ``message``, when it failed."""

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


# --------------------------------------------------------------------------------------------------- records


def da_intensity_of(record: Mapping[str, Any]) -> float:
    """The record's DA intensity: ``da_shift[0]["intensity"]``, 0 when it has no DA shift."""
    shifts = record["spec"].get("da_shift") or []
    return float(shifts[0].get("intensity", 0.0)) if shifts else 0.0


def _name(ref: Mapping[str, Any] | None) -> str:
    if not ref:
        return "none"
    return f"{ref['name']}:{ref['domain']}" if ref.get("domain") else str(ref["name"])


def _shift_name(shifts: Sequence[Mapping[str, Any]] | None) -> str:
    """``noise`` or, with options, ``reinhard[reference=wbc_zheng:lab1#0]``: shifts with different options (colour
    references) are different settings."""

    def one(step: Mapping[str, Any]) -> str:
        options = step.get("options") or {}
        extra = ",".join(f"{k}={options[k]}" for k in sorted(options))
        return f"{step['name']}[{extra}]" if extra else str(step["name"])

    return "+".join(one(s) for s in shifts or []) or "none"


def _test_scores(record: Mapping[str, Any], metric: str) -> dict[float, tuple[float, float]]:
    """Test intensity -> (value, bootstrap half-width); null values become NaN."""
    out: dict[float, tuple[float, float]] = {}
    for domain, metrics in record.get("metrics", {}).items():
        if not domain.startswith(DOMAIN_PREFIX) or metric not in metrics:
            continue
        est = metrics[metric]
        value, low, high = (math.nan if est.get(k) is None else float(est[k]) for k in ("value", "low", "high"))
        out[round(float(domain[len(DOMAIN_PREFIX) :]), 9)] = (value, (high - low) / 2.0)
    return out


def _add(scores: Scores, record: Mapping[str, Any], metric: str, counts: dict[int, int]) -> None:
    """Accumulate a record's scores under its seed (several records of one seed are averaged)."""
    seed = int(record["spec"].get("seed", 0))
    counts[seed] = counts.get(seed, 0) + 1
    acc = scores.setdefault(seed, {})
    n = counts[seed]
    for i, (v, h) in _test_scores(record, metric).items():
        old = acc.get(i)
        acc[i] = (v, h) if old is None else (old[0] + (v - old[0]) / n, old[1] + (h - old[1]) / n)


# ------------------------------------------------------------------------------------------------ statistics


def _t_half(values: np.ndarray) -> float:
    from scipy import stats

    n = values.size
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def _combine(trainings: Mapping[Any, Scores], terms: Mapping[Term, float]) -> tuple[float, float, float]:
    """Mean and 95% interval of ``sum(coef * score)`` over the terms (see the module docstring)."""
    terms = {t: c for t, c in terms.items() if c != 0}
    if not terms:
        return 0.0, 0.0, 0.0
    mean, half_sq = 0.0, 0.0
    for (training, i), coef in terms.items():
        pts = [s[i] for s in trainings[training].values() if i in s and math.isfinite(s[i][0])]
        if not pts:
            return math.nan, math.nan, math.nan
        values = np.array([p[0] for p in pts])
        mean += coef * float(values.mean())
        half = _t_half(values) if values.size >= 2 else float(np.mean([p[1] for p in pts]))
        half_sq += (coef * half) ** 2
    seeds = set.intersection(*(set(trainings[t]) for t, _ in terms))
    per_seed = [sum(c * trainings[t][s].get(i, (math.nan, 0.0))[0] for (t, i), c in terms.items()) for s in seeds]
    paired = np.array([v for v in per_seed if math.isfinite(v)])
    half = _t_half(paired) if paired.size >= 2 else math.sqrt(half_sq)
    return mean, mean - half, mean + half


def _terms(*pairs: tuple[Term, float]) -> dict[Term, float]:
    """Sum the coefficients of repeated terms (``so(0) - so(i)`` is zero at ``i = 0``)."""
    out: dict[Term, float] = defaultdict(float)
    for term, coef in pairs:
        out[term] += coef
    return dict(out)


def _band(cells: Iterable[tuple[float, float, float]], shape: tuple[int, ...]) -> Band:
    arr = np.array(list(cells), dtype=float).reshape((*shape, 3))
    return Band(arr[..., 0], arr[..., 1], arr[..., 2])


# --------------------------------------------------------------------------------------------- decomposition


def _groups(records: Iterable[Mapping[str, Any]], metric: str) -> tuple[dict[tuple[str, ...], Any], dict[Any, Any]]:
    baselines: dict[tuple[str, str], tuple[Scores, dict[int, int]]] = {}
    groups: dict[tuple[str, ...], dict[float, tuple[Scores, dict[int, int]]]] = defaultdict(dict)
    for record in records:
        if record.get("status") != "ok":
            continue
        spec = record["spec"]
        setting = (_name(spec.get("dataset")), _shift_name(spec.get("shift")))
        if spec["method"]["name"] == BASELINE:
            scores, counts = baselines.setdefault(setting, ({}, {}))
        else:
            key = (spec["method"]["name"], setting[0], _name(spec.get("da_dataset")), _shift_name(spec.get("da_shift")))
            scores, counts = groups[(*key, setting[1])].setdefault(da_intensity_of(record), ({}, {}))
        _add(scores, record, metric, counts)
    return _merge_undone(dict(groups)), baselines


def _merge_undone(groups: dict[tuple[str, ...], Any]) -> dict[tuple[str, ...], Any]:
    """A DA run without a DA shift (DA intensity 0: C and D identical in distribution) belongs to every DA-shift
    group of the same method, dataset, DA dataset and test shift; it stays on its own only when it has no such
    group."""
    merged = dict(groups)
    for key, by_da in groups.items():
        method, dataset, da_dataset, da_shift, test_shift = key
        if da_shift != "none":
            continue
        siblings = [k for k in groups if k[:3] == (method, dataset, da_dataset) and k[4] == test_shift and k != key]
        for sibling in siblings:
            merged[sibling] = {**{j: v for j, v in by_da.items() if j not in groups[sibling]}, **groups[sibling]}
        if siblings:
            del merged[key]
    return merged


def decompose(records: Iterable[Mapping[str, Any]], *, metric: str = "accuracy") -> list[Decomposition]:
    """Reference, degradation, cost and gain for every DA group, sorted by group labels.

    Records with status ``ok`` are grouped by (method, dataset, DA dataset, DA shift name, test shift name) and by DA
    intensity; ``source_only`` records of the same dataset and test shift give the reference and the degradation.

    Raises
    ------
    SpecError
        When a DA group has no ``source_only`` result (at test intensity 0) for its dataset and test shift.

    References
    ----------
    DANN study, section III-E: "Accuracy = reference − degradation − cost + gain".
    """
    groups, baselines = _groups(records, metric)
    out = []
    for key in sorted(groups):
        method, dataset, da_dataset, _, test_shift = key
        base = baselines.get((dataset, test_shift))
        if base is None or not any(s for s in base[0].values()):
            raise SpecError(
                f"no completed {BASELINE!r} run for dataset {dataset!r} with test shift {test_shift!r}, which the "
                f"decomposition of {method!r} (DA {da_dataset!r}) needs as its reference (the paper's raw CNN). "
                f"Add method {BASELINE!r} to the sweep and run it."
            )
        reference_intensity = min(i for s in base[0].values() for i in s)
        out.append(_decompose_group(key, groups[key], base[0], metric, reference_intensity))
    return out


def _decompose_group(
    key: tuple[str, ...],
    by_da: Mapping[float, tuple[Scores, dict[int, int]]],
    so: Scores,
    metric: str,
    i0: float = 0.0,
) -> Decomposition:
    """``i0`` is the "no test shift" intensity: the smallest one evaluated (0 for noise; 1 for blur, where a 1×1
    kernel is the identity)."""
    trainings: dict[Any, Scores] = {"so": so, **{j: scores for j, (scores, _) in by_da.items()}}
    js = sorted(by_da)
    i_set = {i for j in js for s in by_da[j][0].values() for i in s}
    i_values = sorted(i_set | {i0})
    shape_i, shape_ij = (len(i_values),), (len(i_values), len(js))
    reference = _band([_combine(trainings, _terms((("so", i0), 1.0)))], ())
    baseline = _band((_combine(trainings, _terms((("so", i), 1.0))) for i in i_values), shape_i)
    degradation = _band((_combine(trainings, _terms((("so", i0), 1.0), (("so", i), -1.0))) for i in i_values), shape_i)
    cost = _band((_combine(trainings, _terms((("so", i0), 1.0), ((j, i0), -1.0))) for j in js), (len(js),))
    accuracy = _band((_combine(trainings, _terms(((j, i), 1.0))) for i in i_values for j in js), shape_ij)
    gain_terms = (  # accuracy - (reference - degradation - cost)
        _terms(((j, i), 1.0), ((j, i0), -1.0), (("so", i), -1.0), (("so", i0), 1.0)) for i in i_values for j in js
    )
    gain = _band((_combine(trainings, terms) for terms in gain_terms), shape_ij)
    method, dataset, da_dataset, da_shift, test_shift = key
    return Decomposition(
        method=method,
        dataset=dataset,
        da_dataset=da_dataset,
        da_shift=da_shift,
        test_shift=test_shift,
        metric=metric,
        test_intensities=np.array(i_values),
        da_intensities=np.array(js, dtype=float),
        reference=reference,
        degradation=degradation,
        cost=cost,
        gain=gain,
        accuracy=accuracy,
        baseline=baseline,
        n_seeds=min(len(by_da[j][0]) for j in js),
        n_seeds_reference=len(so),
    )


# ------------------------------------------------------------------------------------------------------ fits


def sigmoid(i: np.ndarray, d_max: float, k: float, i0: float) -> np.ndarray:
    """Degradation model ``d(i) = d_max / (1 + exp(-k (i - i0)))`` (paper: a "sigmoidal relation")."""
    with np.errstate(over="ignore"):
        return d_max / (1.0 + np.exp(-k * (np.asarray(i, dtype=float) - i0)))


def gaussian_quadratic(x: np.ndarray, mu: float, sigma: float, a: float, b: float, c: float) -> np.ndarray:
    """Gain model ``g(i, j) = exp(-(i - mu)^2 / (2 sigma^2)) (a j^2 + b j + c)``; ``x`` is ``[2, n]`` = (i, j)."""
    i, j = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return np.exp(-((i - mu) ** 2) / (2.0 * sigma**2)) * (a * j**2 + b * j + c)


def _failed(model: str, formula: str, names: Sequence[str], n: int, message: str) -> FitResult:
    log.info("%s fit did not converge: %s", model, message)
    nan = dict.fromkeys(names, math.nan)
    return FitResult(model, formula, dict(nan), dict(nan), math.nan, math.nan, n, False, message)


def _fit(
    model: str,
    formula: str,
    fn: Callable[..., np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    p0: Sequence[float],
    names: Sequence[str],
    maxfev: int,
) -> FitResult:
    from scipy.optimize import OptimizeWarning, curve_fit

    n = int(y.size)
    if n <= len(p0):
        return _failed(model, formula, names, n, f"{n} finite points for {len(p0)} parameters; need more")
    if not np.all(np.isfinite(p0)):
        return _failed(model, formula, names, n, "no finite starting point")
    if np.ptp(y) == 0:
        return _failed(model, formula, names, n, f"all {n} values equal {y[0]:g}: the parameters are not identifiable")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, pcov = curve_fit(fn, x, y, p0=list(p0), maxfev=maxfev)
    except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        return _failed(model, formula, names, n, str(exc))
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


def fit_degradation(decomposition: Decomposition, *, maxfev: int = 20000) -> FitResult:
    """Fit the sigmoid ``d(i) = d_max / (1 + exp(-k (i - i0)))`` to the mean degradation over test intensity.

    Unweighted least squares. Never raises on a failed fit: the result is flagged ``converged=False``.

    References
    ----------
    DANN study, section IV-A: "a sigmoidal relation between noise intensity and performance degradation".
    """
    x = np.asarray(decomposition.test_intensities, dtype=float)
    y = np.asarray(decomposition.degradation.value, dtype=float)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    names, formula = ("d_max", "k", "i0"), "d_max / (1 + exp(-k (i - i0)))"
    if y.size == 0:
        return _failed("sigmoid", formula, names, 0, "no finite degradation values")
    d_max = float(y.max()) if y.max() > 0 else 1e-3
    span = float(np.ptp(x)) or 1.0
    above = x[y >= d_max / 2.0]
    i0 = float(above.min()) if above.size else float(np.median(x))
    return _fit("sigmoid", formula, sigmoid, x, y, (d_max, 10.0 / span, i0), names, maxfev)


def fit_gain(decomposition: Decomposition, *, maxfev: int = 20000) -> FitResult:
    """Fit ``g(i, j) = exp(-(i - mu)^2 / (2 sigma^2)) (a j^2 + b j + c)`` to the mean gain over (test i, DA j).

    The gaussian has unit height (its scale lives in the quadratic); ``sigma`` is reported as ``|sigma|``. The start
    point takes ``mu`` at the test intensity of the largest DA-averaged gain and solves ``a, b, c`` linearly. The
    location and value of the largest observed gain are in ``extra``. Never raises on a failed fit.

    References
    ----------
    DANN study, section IV-A: "the product of two univariate functions: a gaussian function dependent on the
    noise intensity, and a quadratic function dependent on the DA intensity"; "maximum gain of 0.50".
    """
    d = decomposition
    ii, jj = np.meshgrid(d.test_intensities, d.da_intensities, indexing="ij")
    y_all = np.asarray(d.gain.value, dtype=float)
    ok = np.isfinite(y_all)
    x, y = np.vstack([ii[ok], jj[ok]]), y_all[ok]
    names, formula = ("mu", "sigma", "a", "b", "c"), "exp(-(i - mu)^2 / (2 sigma^2)) (a j^2 + b j + c)"
    best, at_i, at_j = d.max_gain()
    extra = {"max_gain": best, "max_gain_test_intensity": at_i, "max_gain_da_intensity": at_j}
    if np.unique(x[1]).size < 3:
        result = _failed("gaussian_quadratic", formula, names, int(y.size), "need at least 3 distinct DA intensities")
        return dataclasses.replace(result, extra=extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        profile = np.nanmean(np.where(ok, y_all, np.nan), axis=1)
    mu = float(d.test_intensities[int(np.nanargmax(profile))]) if np.isfinite(profile).any() else 0.0
    sigma = (float(np.ptp(x[0])) or 1.0) / 4.0
    g = np.exp(-((x[0] - mu) ** 2) / (2 * sigma**2))
    abc = np.linalg.lstsq(np.column_stack([g * x[1] ** 2, g * x[1], g]), y, rcond=None)[0]
    result = _fit("gaussian_quadratic", formula, gaussian_quadratic, x, y, (mu, sigma, *abc), names, maxfev)
    params = {**result.params, "sigma": abs(result.params["sigma"])}
    return dataclasses.replace(result, params=params, extra=extra)


def fit_all(decompositions: Sequence[Decomposition]) -> list[dict[str, FitResult]]:
    """``{"degradation": fit_degradation(d), "gain": fit_gain(d)}`` for each decomposition."""
    return [{"degradation": fit_degradation(d), "gain": fit_gain(d)} for d in decompositions]


# ---------------------------------------------------------------------------------------------------- curves

Curve = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def accuracy_curves(
    records: Iterable[Mapping[str, Any]],
    *,
    metric: str = "accuracy",
    da_intensity: float | Literal["best", "matched"] | None = None,
) -> dict[str, Curve]:
    """Score vs test-shift intensity, one curve per DA group plus the no-DA (``source_only``) curve per setting.

    Each curve is ``(test intensities, mean, low, high)``. ``da_intensity``: a number picks that DA intensity;
    ``None`` or ``"best"`` the one with the largest mean gain (averaged over test intensities) per group;
    ``"matched"`` the paper's Fig. 5a convention, the DA intensity equal to each test intensity (points without a
    matching DA run are left out). Labels name the method, DA dataset and DA intensity, prefixed with the dataset
    and test shift when the records span several.

    References
    ----------
    DANN study, Fig. 5a and 7a: "For each curve, DA is trained with a different dataset."
    """
    decs = decompose(records, metric=metric)
    settings = sorted({(d.dataset, d.test_shift) for d in decs})
    curves: dict[str, Curve] = {}
    for setting in settings:
        prefix = f"{setting[0]}, {setting[1]}: " if len(settings) > 1 else ""
        group = [d for d in decs if (d.dataset, d.test_shift) == setting]
        base = group[0].baseline
        curves[f"{prefix}no DA ({BASELINE})"] = (group[0].test_intensities, base.value, base.low, base.high)
        for d in group:
            label, curve = _da_curve(d, da_intensity)
            if curve is not None:
                curves[f"{prefix}{label}"] = curve
    return curves


def _da_curve(d: Decomposition, da_intensity: float | str | None) -> tuple[str, Curve | None]:
    name = f"{d.method}, DA on {d.da_dataset}" if d.method != "dann" else f"DA on {d.da_dataset}"
    acc, js = d.accuracy, d.da_intensities
    if da_intensity == "matched":
        idx = [
            (a, int(np.flatnonzero(np.isclose(js, i))[0]))
            for a, i in enumerate(d.test_intensities)
            if np.isclose(js, i).any()
        ]
        if not idx:
            return name, None
        rows, cols = (np.array(v) for v in zip(*idx, strict=True))
        x = d.test_intensities[rows]
        return f"{name} (DA intensity = test intensity)", (
            x,
            acc.value[rows, cols],
            acc.low[rows, cols],
            acc.high[rows, cols],
        )
    if da_intensity is None or da_intensity == "best":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_gain = np.nanmean(d.gain.value, axis=0)
        col = int(np.nanargmax(mean_gain)) if np.isfinite(mean_gain).any() else 0
    else:
        match = np.flatnonzero(np.isclose(js, float(da_intensity)))
        if not match.size:
            return name, None
        col = int(match[0])
    label = f"{name} ({d.da_shift} {js[col]:g})"
    return label, (d.test_intensities, acc.value[:, col], acc.low[:, col], acc.high[:, col])
