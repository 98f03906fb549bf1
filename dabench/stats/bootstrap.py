"""One shared, vectorised bootstrap that gives every metric a confidence interval.

Resamples are drawn by :mod:`dabench.stats.resampling` (per-sample multiplicity counts, or the exact cell fast path for
metrics that register a cell key; see there). A metric with a vectorised ``resampled(y_true, y_score, counts)``
evaluates a whole chunk of replicates at once; any other metric is evaluated replicate by replicate on the expanded
sample.

Intervals are percentile or BCa. BCa's acceleration comes from a jackknife: leave-one-out (grouped data:
leave-one-group-out) when there are at most ``JACKKNIFE_MAX_UNITS`` units, otherwise a delete-a-block jackknife over
``JACKKNIFE_MAX_UNITS`` seeded random blocks of units. The acceleration ``a = sum(d^3) / (6 (sum(d^2))^1.5)`` is
invariant to the block size to first order (block influence sums have skewness ``skew / sqrt(m)`` for blocks of
``m`` units), so the blocked estimate targets the same ``a`` at bounded cost. On the ungrouped cell path with at most
``JACKKNIFE_MAX_CELLS`` cells the leave-one-out jackknife is exact at any ``n``: leaving out any one sample of cell
``k`` gives the same value, so each cell's value is evaluated once and weighted by the cell's size.

Every call draws from its own ``np.random.default_rng(seed)``, so with the same seed the replicates of different
metrics on the per-sample path (and on the index-draw cell path) use the same resamples, whereas metrics on the
multinomial cell path draw their replicates independently of the other metrics (and of other models).

Paired replicates. ``bootstrap(..., paired=True)`` also keeps the replicates drawn on the *per-sample stream*
(:func:`replicates` with ``per_sample=True``), rounded to ``PAIRED_DIGITS`` significant digits, in
``Estimate.paired``. That stream depends only on the test set's size, groups and the seed, so two models evaluated
on the same test set with the same seed get replicate ``b`` from the very same resample, and the difference of
their replicate vectors is a paired bootstrap of their difference (the leaderboard ranks with it). When the
interval's own replicates already come from that stream they are reused; only metrics on the multinomial cell path
pay for a second pass.

Replicates whose metric is undefined (NaN, e.g. AUC on a replicate with one class only) are left out of the
interval (paired replicates keep them as NaN, so replicate ``b`` stays resample ``b``); if the full-data value is
NaN, the interval is NaN too.

References
----------
Efron B, Tibshirani RJ. *An Introduction to the Bootstrap*. Chapman & Hall, 1993 (percentile: ch. 13; BCa and its
jackknife acceleration: ch. 14.3; comparing two statistics on the same bootstrap samples: ch. 16).
Field CA, Welsh AH. Bootstrapping clustered data. *J R Stat Soc B* 69(3), 2007 (resampling whole clusters).
Davison AC, Hinkley DV. *Bootstrap Methods and their Application*. CUP, 1997 (sec. 3.8, grouped data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dabench.errors import SpecError
from dabench.specs import MetricSpec
from dabench.stats.resampling import (
    CELL_MULTINOMIAL_RATIO,
    CHUNK_ELEMENTS,
    CellKey,
    Cells,
    cell_key,
    cells_of,
    count_chunks,
    iter_cell_counts,
    iter_counts,
    register_cell_key,
    units_of,
)

__all__ = [
    "CELL_MULTINOMIAL_RATIO",
    "CHUNK_ELEMENTS",
    "INTERVALS",
    "JACKKNIFE_MAX_CELLS",
    "JACKKNIFE_MAX_UNITS",
    "PAIRED_DIGITS",
    "CellKey",
    "Cells",
    "Estimate",
    "acceleration",
    "bootstrap",
    "cell_key",
    "cells_of",
    "iter_cell_counts",
    "iter_counts",
    "register_cell_key",
    "replicates",
    "round_replicates",
    "uses_sample_stream",
]

INTERVALS = ("percentile", "bca", "none")
JACKKNIFE_MAX_UNITS = 1000
"""Above this many units (samples or groups), BCa uses a delete-a-block jackknife with this many blocks."""
JACKKNIFE_MAX_CELLS = 2048
"""Up to this many cells, the ungrouped cell path computes the exact leave-one-out jackknife (one value per cell)."""
PAIRED_DIGITS = 6
"""Significant digits of the paired replicates kept in a record."""


@dataclass(frozen=True)
class Estimate:
    """A metric value with its bootstrap confidence interval.

    ``interval`` is ``"percentile"``, ``"bca"`` or ``"none"`` (no bootstrap: ``low == high == value``).
    """

    value: float
    low: float
    high: float
    n_boot: int
    interval: str
    paired: tuple[float, ...] | None = None
    """Replicates on the per-sample stream (module docstring), rounded; ``None`` unless asked for."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able dict; NaN becomes ``None`` so that strict JSON (``allow_nan=False``) can store it. ``paired``
        appears only when the estimate has paired replicates."""
        out: dict[str, Any] = {
            "value": _json_float(self.value),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "n_boot": self.n_boot,
            "interval": self.interval,
        }
        if self.paired is not None:
            out["paired"] = [_json_float(x) for x in self.paired]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Estimate:
        """Inverse of :meth:`as_dict` (``None`` reads back as NaN)."""
        return cls(
            value=_from_json_float(d["value"]),
            low=_from_json_float(d["low"]),
            high=_from_json_float(d["high"]),
            n_boot=int(d["n_boot"]),
            interval=str(d["interval"]),
            paired=tuple(_from_json_float(x) for x in d["paired"]) if d.get("paired") is not None else None,
        )

    def format(self, digits: int = 3) -> str:
        """``"0.912 [0.897, 0.925]"``; just the value when there is no interval."""
        value = f"{self.value:.{digits}f}"
        if self.interval == "none" or self.n_boot == 0:
            return value
        return f"{value} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _json_float(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def round_replicates(values: np.ndarray, digits: int = PAIRED_DIGITS) -> tuple[float, ...]:
    """Stored replicates: ``values`` rounded to ``digits`` significant digits (NaN stays NaN), as Python floats."""
    from dabench.stats.precision import round_significant

    return tuple(round_significant(v, digits) for v in np.asarray(values, dtype=np.float64).tolist())


def _from_json_float(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _evaluate(metric: MetricSpec, y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Metric value for each row of ``counts`` (vectorised when the metric has ``resampled``)."""
    if metric.resampled is not None:
        return np.asarray(metric.resampled(y_true, y_score, counts), dtype=np.float64)
    out = np.empty(counts.shape[0])
    index = np.arange(counts.shape[1])
    for b, row in enumerate(counts):
        take = np.repeat(index, row)
        out[b] = metric.fn(y_true[take], y_score[take])
    return out


def replicates(
    metric: MetricSpec,
    y_true: np.ndarray,
    y_score: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int,
    groups: np.ndarray | None = None,
    per_sample: bool = False,
) -> np.ndarray:
    """The ``n_boot`` bootstrap replicates of ``metric`` (float array, NaN where undefined).

    Metrics with a registered cell key use the cell fast path (:func:`iter_cell_counts`), others the per-sample
    counts of :func:`iter_counts`. With ``per_sample`` the resamples are always those of the per-sample stream
    (the cell path then counts the very same draws per cell), so they do not depend on the predictions.
    """
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    n = _check_inputs(metric, y_true, y_score)
    cells = cells_of(metric, y_true, y_score)
    if cells is not None:  # cell fast path: representatives weighted by cell counts
        y_rep, s_rep = _read_only(y_true[cells.index]), _read_only(y_score[cells.index])
        chunks = iter_cell_counts(cells, n_boot, seed, groups=groups, per_sample=per_sample)
    else:
        y_rep, s_rep = _read_only(y_true), _read_only(y_score)
        chunks = count_chunks(n, n_boot, seed, groups=groups, chunk_rows=None, reuse=True)
    parts = [_evaluate(metric, y_rep, s_rep, c) for c in chunks]
    return np.concatenate(parts) if parts else np.empty(0)


def uses_sample_stream(
    metric: MetricSpec, y_true: np.ndarray, y_score: np.ndarray, *, groups: np.ndarray | None = None
) -> bool:
    """Whether :func:`replicates` (without ``per_sample``) already draws from the per-sample stream here: every
    path does except the ungrouped multinomial cell path."""
    cells = cells_of(metric, np.asarray(y_true), np.asarray(y_score))
    if cells is None or groups is not None:
        return True
    return cells.n_cells * CELL_MULTINOMIAL_RATIO > int(cells.of_sample.size)


def _read_only(a: np.ndarray) -> np.ndarray:
    """A fresh read-only view: lets metrics memoise their per-data preparation across chunks of one call."""
    view = np.asarray(a).view()
    view.flags.writeable = False
    return view


def _check_inputs(metric: MetricSpec, y_true: np.ndarray, y_score: np.ndarray) -> int:
    if y_true.shape[0] != y_score.shape[0]:
        raise SpecError(
            f"metric {metric.name!r}: y_true has {y_true.shape[0]} samples but y_score has {y_score.shape[0]}."
        )
    if y_true.shape[0] == 0:
        raise SpecError(f"metric {metric.name!r}: cannot evaluate on zero samples.")
    return int(y_true.shape[0])


# -------------------------------------------------------------------------------------------- intervals


def _percentile(reps: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _jackknife_counts(n: int, group_index: np.ndarray | None, seed: int) -> Iterator[np.ndarray]:
    """Counts ``[k, n]`` of the jackknife: leave one unit (or one block of units) out per row."""
    n_units = n if group_index is None else int(group_index.max()) + 1
    if n_units <= JACKKNIFE_MAX_UNITS:
        unit_block = np.arange(n_units)
    else:
        perm = np.random.default_rng([seed, 0x1ACC]).permutation(n_units)
        unit_block = np.empty(n_units, dtype=np.intp)
        unit_block[perm] = np.arange(n_units) % JACKKNIFE_MAX_UNITS
    n_blocks = int(unit_block.max()) + 1
    sample_block = unit_block if group_index is None else unit_block[group_index]
    rows = max(1, CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n_blocks, rows):
        blocks = np.arange(start, min(n_blocks, start + rows))
        yield (sample_block[None, :] != blocks[:, None]).astype(np.int64)


def acceleration(
    metric: MetricSpec, y_true: np.ndarray, y_score: np.ndarray, *, groups: np.ndarray | None = None, seed: int = 0
) -> float:
    """BCa acceleration from the (grouped, possibly blocked) jackknife; 0 when the jackknife values are constant.

    Ungrouped metrics with a cell key and at most ``JACKKNIFE_MAX_CELLS`` cells use the exact leave-one-out
    jackknife computed per cell (weighted by cell size), at any ``n``.
    """
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    n = _check_inputs(metric, y_true, y_score)
    _, group_index = units_of(n, groups)
    cells = cells_of(metric, y_true, y_score) if group_index is None else None
    if cells is not None and cells.n_cells <= JACKKNIFE_MAX_CELLS:
        jack, weight = _cell_jackknife(metric, y_true, y_score, cells), cells.sizes.astype(np.float64)
    else:
        y_true, y_score = _read_only(y_true), _read_only(y_score)
        chunks = _jackknife_counts(n, group_index, seed)
        jack = np.concatenate([_evaluate(metric, y_true, y_score, c) for c in chunks])
        weight = np.ones(jack.size)
    finite = np.isfinite(jack)
    jack, weight = jack[finite], weight[finite]
    if weight.sum() < 2:
        return 0.0
    d = float(np.sum(weight * jack) / np.sum(weight)) - jack
    denom = 6.0 * float(np.sum(weight * d**2)) ** 1.5
    return float(np.sum(weight * d**3) / denom) if denom > 0 else 0.0


def _cell_jackknife(metric: MetricSpec, y_true: np.ndarray, y_score: np.ndarray, cells: Cells) -> np.ndarray:
    """Leave-one-out value per cell: the metric without one (any) sample of cell ``k``, for every ``k``."""
    y_rep, s_rep = _read_only(y_true[cells.index]), _read_only(y_score[cells.index])
    k = cells.n_cells
    rows = max(1, CHUNK_ELEMENTS // k)
    parts = []
    for start in range(0, k, rows):
        drop = np.arange(start, min(k, start + rows))
        counts = np.repeat(cells.sizes[None, :], drop.size, axis=0)
        counts[np.arange(drop.size), drop] -= 1
        with np.errstate(invalid="ignore", divide="ignore"):  # n = 1: the empty resample is NaN, left out
            parts.append(_evaluate(metric, y_rep, s_rep, counts))
    return np.concatenate(parts)


def _bca(reps: np.ndarray, value: float, accel: float, level: float) -> tuple[float, float]:
    from scipy.stats import norm

    b = reps.size
    share = (np.count_nonzero(reps < value) + 0.5 * np.count_nonzero(reps == value)) / b
    z0 = float(norm.ppf(np.clip(share, 1.0 / (b + 1), b / (b + 1))))
    alpha = (1.0 - level) / 2.0
    z = norm.ppf([alpha, 1.0 - alpha])
    adj = z0 + (z0 + z) / (1.0 - accel * (z0 + z))
    probs = np.clip(norm.cdf(adj), 0.0, 1.0)
    low, high = np.quantile(reps, probs)
    return float(low), float(high)


def bootstrap(
    metric: MetricSpec,
    y_true: np.ndarray,
    y_score: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int,
    groups: np.ndarray | None = None,
    interval: str = "percentile",
    level: float = 0.95,
    paired: bool = False,
) -> Estimate:
    """Value of ``metric`` on the full data with a bootstrap confidence interval.

    Parameters
    ----------
    metric
        The metric; its vectorised ``resampled`` is used when present.
    y_true, y_score
        Labels ``[N]`` and probabilities ``[N, C]`` (segmentation: ``[N, H, W]`` and ``[N, C, H, W]``; images are
        the resampled units).
    n_boot
        Number of replicates; 0 gives ``low == high == value`` and ``interval="none"``.
    seed
        Seed of ``np.random.default_rng`` for the replicates (and the jackknife blocks of BCa).
    groups
        Optional id per sample (patient, slide, site): whole groups are resampled (cluster bootstrap).
    interval
        ``"percentile"`` or ``"bca"`` (``"none"`` skips resampling).
    level
        Coverage of the two-sided interval.
    paired
        Also keep the replicates of the per-sample stream (``Estimate.paired``, rounded to ``PAIRED_DIGITS``
        significant digits, NaN where undefined), for paired comparisons with other models on the same test set.

    References
    ----------
    Efron B, Tibshirani RJ. *An Introduction to the Bootstrap*, 1993, ch. 13-14.
    Valliani AA et al. Deploying deep learning models on unseen medical imaging using adversarial domain
    adaptation. *PLOS ONE* (1,000 bootstrap replicates for AUC intervals).
    """
    if interval not in INTERVALS:
        raise SpecError(f"unknown bootstrap interval {interval!r}: use one of {', '.join(INTERVALS)}.")
    if not 0.0 < level < 1.0:
        raise SpecError(f"bootstrap level must be in (0, 1), got {level!r}.")
    if n_boot < 0:
        raise SpecError(f"n_boot must be >= 0, got {n_boot}.")
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    _check_inputs(metric, y_true, y_score)
    value = float(metric.fn(y_true, y_score))
    if n_boot == 0 or interval == "none":
        return Estimate(value=value, low=value, high=value, n_boot=0, interval="none")
    with _single_blas_thread():
        all_reps = replicates(metric, y_true, y_score, n_boot=n_boot, seed=seed, groups=groups)
        kept: tuple[float, ...] | None = None
        if paired:
            same = uses_sample_stream(metric, y_true, y_score, groups=groups)
            stream = (
                all_reps
                if same
                else replicates(metric, y_true, y_score, n_boot=n_boot, seed=seed, groups=groups, per_sample=True)
            )
            kept = round_replicates(stream)
        reps = all_reps[np.isfinite(all_reps)]
        if math.isnan(value) or reps.size == 0:
            return Estimate(value=value, low=math.nan, high=math.nan, n_boot=n_boot, interval=interval, paired=kept)
        if interval == "percentile":
            low, high = _percentile(reps, level)
        else:
            accel = acceleration(metric, y_true, y_score, groups=groups, seed=seed)
            low, high = _bca(reps, value, accel, level)
    return Estimate(value=value, low=low, high=high, n_boot=n_boot, interval=interval, paired=kept)


def _single_blas_thread() -> Any:
    """Context manager pinning BLAS to one thread (metrics may use matmul; keeps numpy and torch pools apart)."""
    from threadpoolctl import threadpool_limits

    limiter: Callable[..., Any] = threadpool_limits
    return limiter(limits=1, user_api="blas")
