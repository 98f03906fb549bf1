"""One shared, vectorised bootstrap that gives every metric a confidence interval.

Replicates are *multiplicity counts* ``[B, N]``: row ``b`` says how often each sample (or, grouped, each sample of a
drawn group) appears in replicate ``b``. A metric with a vectorised ``resampled(y_true, y_score, counts)`` evaluates
a whole chunk of replicates at once; any other metric is evaluated replicate by replicate on the expanded sample.
Counts are drawn with ``np.random.default_rng(seed)`` (``n`` uniform draws with replacement per replicate, i.e.
multinomial counts), in row chunks of at most ``CHUNK_ELEMENTS`` counts (4 MB of int64), in one reused buffer.

Intervals are percentile or BCa. BCa's acceleration comes from a jackknife: leave-one-out (grouped data:
leave-one-group-out) when there are at most ``JACKKNIFE_MAX_UNITS`` units, otherwise a delete-a-block jackknife over
``JACKKNIFE_MAX_UNITS`` seeded random blocks of units. The acceleration ``a = sum(d^3) / (6 (sum(d^2))^1.5)`` is
invariant to the block size to first order (block influence sums have skewness ``skew / sqrt(m)`` for blocks of
``m`` units), so the blocked estimate targets the same ``a`` at bounded cost. On the ungrouped cell path with at most
``JACKKNIFE_MAX_CELLS`` cells the leave-one-out jackknife is exact at any ``n``: leaving out any one sample of cell
``k`` gives the same value, so each cell's value is evaluated once and weighted by the cell's size.

Cell fast path (exact). Many metrics depend on the samples only through how many samples fall in each of a few
*cells* of interchangeable samples: confusion-matrix metrics (accuracy, balanced accuracy, macro-F1) through the
``C x C`` (label, prediction) cells, ROC AUC through the (distinct score, label) cells. A metric declares this with
:func:`register_cell_key` (keyed by its ``resampled`` function): ``key(y_true, y_score)`` gives every sample an
integer key, and samples with equal keys must be interchangeable for the metric. The bootstrap then works on the
``K`` cells (:func:`cells_of`): a replicate is a vector of cell counts ``[K]`` and is evaluated as
``resampled(y_true[rep], y_score[rep], cell_counts)`` on one representative sample per cell, which by the contract
of ``resampled`` equals the metric on the expanded resample. The cell counts are drawn (:func:`iter_cell_counts`)

* ungrouped, with at least ``CELL_MULTINOMIAL_RATIO`` samples per cell on average: as one multinomial over the
  cells, ``rng.multinomial(n, sizes / n)``. Drawing ``n`` samples uniformly with replacement and counting them per
  cell gives exactly this multinomial (a sum of the multinomial sample counts over a partition is multinomial with
  the summed probabilities), so the bootstrap distribution is the same as the per-sample one at ``O(K)`` cost per
  replicate instead of ``O(n)``; the random stream (and so the individual replicates) differs from
  :func:`iter_counts`;
* ungrouped, otherwise: from the very same uniform draws as :func:`iter_counts`, each drawn sample counted in its
  cell, so the replicates are *identical* to the per-sample path (just cheaper to evaluate);
* grouped: group multiplicities are drawn exactly as :func:`iter_counts` draws them and multiplied by the
  ``[G, K]`` matrix of per-group cell counts (a group contributes its cell-count vector once per draw), so the
  replicates are again identical to the per-sample grouped path.

Every call draws from its own ``np.random.default_rng(seed)``, so with the same seed the replicates of different
metrics on the per-sample path (and on the index-draw cell path) use the same resamples, whereas metrics on the
multinomial cell path draw their replicates independently of the other metrics. Metrics without a cell key (and
segmentation metrics, whose units are images) use the per-sample path: ``resampled`` on ``[B, N]`` counts or, without
``resampled``, ``fn`` on every expanded resample.

Replicates whose metric is undefined (NaN, e.g. AUC on a replicate with one class only) are left out of the
interval; if the full-data value is NaN, the interval is NaN too.

References
----------
Efron B, Tibshirani RJ. *An Introduction to the Bootstrap*. Chapman & Hall, 1993 (percentile: ch. 13; BCa and its
jackknife acceleration: ch. 14.3).
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

INTERVALS = ("percentile", "bca", "none")
CHUNK_ELEMENTS = 1 << 19
"""Largest number of counts (rows x samples) held in one chunk of replicates."""
JACKKNIFE_MAX_UNITS = 1000
"""Above this many units (samples or groups), BCa uses a delete-a-block jackknife with this many blocks."""
JACKKNIFE_MAX_CELLS = 2048
"""Up to this many cells, the ungrouped cell path computes the exact leave-one-out jackknife (one value per cell)."""
CELL_MULTINOMIAL_RATIO = 16
"""Cell counts are drawn as one multinomial over the cells when there are at least this many samples per cell
(numpy's multinomial costs about one binomial draw per cell, ~15x a uniform integer draw per sample)."""


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

    def as_dict(self) -> dict[str, float | int | str | None]:
        """JSON-able dict; NaN becomes ``None`` so that strict JSON (``allow_nan=False``) can store it."""
        return {
            "value": _json_float(self.value),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "n_boot": self.n_boot,
            "interval": self.interval,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Estimate:
        """Inverse of :meth:`as_dict` (``None`` reads back as NaN)."""
        return cls(
            value=_from_json_float(d["value"]),
            low=_from_json_float(d["low"]),
            high=_from_json_float(d["high"]),
            n_boot=int(d["n_boot"]),
            interval=str(d["interval"]),
        )

    def format(self, digits: int = 3) -> str:
        """``"0.912 [0.897, 0.925]"``; just the value when there is no interval."""
        value = f"{self.value:.{digits}f}"
        if self.interval == "none" or self.n_boot == 0:
            return value
        return f"{value} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _from_json_float(x: float | None) -> float:
    return math.nan if x is None else float(x)


# ------------------------------------------------------------------------------------------- resampling


def _units(n: int, groups: np.ndarray | None) -> tuple[int, np.ndarray | None]:
    """Number of resampling units and, for grouped data, each sample's group index."""
    if groups is None:
        return n, None
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise SpecError(f"groups must have one id per sample: shape {groups.shape}, expected ({n},).")
    _, inverse = np.unique(groups, return_inverse=True)
    return int(inverse.max()) + 1, inverse.astype(np.intp)


def iter_counts(
    n: int, n_boot: int, seed: int, *, groups: np.ndarray | None = None, chunk_rows: int | None = None
) -> Iterator[np.ndarray]:
    """Yield bootstrap multiplicity counts in chunks of rows, ``[b, n]`` int64, ``n_boot`` rows in all.

    Each replicate draws as many units as there are (samples, or groups when ``groups`` gives one id per sample)
    uniformly with replacement from ``np.random.default_rng(seed)``, one call per replicate, so the same
    ``(n, n_boot, seed, groups)`` gives the same replicates whatever ``chunk_rows`` is. With groups, every sample of
    a drawn group is counted once per draw.
    """
    yield from _count_chunks(n, n_boot, seed, groups=groups, chunk_rows=chunk_rows, reuse=False)


def _count_chunks(
    n: int, n_boot: int, seed: int, *, groups: np.ndarray | None, chunk_rows: int | None, reuse: bool
) -> Iterator[np.ndarray]:
    """:func:`iter_counts`; with ``reuse`` every chunk is a view of one buffer (allocated once, no page faults)."""
    n_units, group_index = _units(n, groups)
    rng = np.random.default_rng(seed)
    rows = chunk_rows or max(1, min(n_boot, CHUNK_ELEMENTS // max(n, 1)))
    buffer = np.empty((min(rows, n_boot), n), dtype=np.int64) if reuse else None
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        out = buffer[:b] if buffer is not None else np.empty((b, n), dtype=np.int64)
        for row in range(b):
            unit_counts = np.bincount(_unit_draws(rng, n_units), minlength=n_units)
            out[row] = unit_counts if group_index is None else unit_counts[group_index]
        yield out


def _unit_draws(rng: np.random.Generator, n_units: int) -> np.ndarray:
    """One replicate's ``n_units`` uniform draws of unit indices (int32 when it fits: the same stream as int64)."""
    dtype = np.int32 if n_units <= np.iinfo(np.int32).max else np.int64
    return rng.integers(0, n_units, size=n_units, dtype=dtype)


# ------------------------------------------------------------------------------------------- cell fast path


CellKey = Callable[[np.ndarray, np.ndarray], np.ndarray]
_CELL_KEYS: dict[Callable[..., Any], CellKey] = {}


def register_cell_key(resampled: Callable[..., Any], key: CellKey) -> None:
    """Declare that the metric whose ``resampled`` is ``resampled`` depends on the samples only through their
    counts per cell, the cell of a sample being ``key(y_true, y_score)[i]`` (integers, equal for interchangeable
    samples). The bootstrap then draws and evaluates cell counts instead of per-sample counts (module docstring).
    """
    _CELL_KEYS[resampled] = key


def cell_key(metric: MetricSpec) -> CellKey | None:
    """The registered cell key of ``metric`` (looked up by its ``resampled``), or ``None``."""
    return None if metric.resampled is None else _CELL_KEYS.get(metric.resampled)


@dataclass(frozen=True)
class Cells:
    """A partition of the samples into cells of interchangeable samples (sorted by key).

    ``index [K]``: one representative sample per cell (its first); ``sizes [K]``: samples per cell;
    ``of_sample [N]``: the cell of every sample. A replicate's cell counts ``c [K]`` stand for the resample
    ``np.repeat(index, c)``.
    """

    index: np.ndarray
    sizes: np.ndarray
    of_sample: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.index.size)


def cells_of(metric: MetricSpec, y_true: np.ndarray, y_score: np.ndarray) -> Cells | None:
    """The cells of ``metric`` on this data, or ``None`` when the metric has no registered cell key."""
    key = cell_key(metric)
    if key is None:
        return None
    keys = np.asarray(key(np.asarray(y_true), np.asarray(y_score))).reshape(-1)
    if keys.shape[0] != np.asarray(y_true).shape[0]:
        raise SpecError(f"metric {metric.name!r}: cell key gave {keys.shape[0]} keys for {len(y_true)} samples.")
    _, index, inverse, sizes = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return Cells(
        index=index.astype(np.intp), sizes=sizes.astype(np.int64), of_sample=inverse.reshape(-1).astype(np.intp)
    )


def iter_cell_counts(
    cells: Cells, n_boot: int, seed: int, *, groups: np.ndarray | None = None, chunk_rows: int | None = None
) -> Iterator[np.ndarray]:
    """Yield bootstrap *cell* counts in chunks of rows, ``[b, K]`` int64, ``n_boot`` rows in all.

    Row ``b`` counts, per cell, the samples of replicate ``b`` (see the module docstring for how they are drawn and
    why this is the same bootstrap). The same ``(cells, n_boot, seed, groups)`` gives the same replicates whatever
    ``chunk_rows`` is.
    """
    n, k = int(cells.of_sample.size), cells.n_cells
    n_units, group_index = _units(n, groups)
    rng = np.random.default_rng(seed)
    rows = chunk_rows or max(1, min(n_boot, CHUNK_ELEMENTS // max(k, 1)))
    if group_index is not None:
        from scipy.sparse import csr_matrix

        # [K, G] samples of each group in each cell: a drawn group adds its column to the cell counts
        per_group = csr_matrix(
            (np.ones(n, dtype=np.int64), (cells.of_sample, group_index)), shape=(k, n_units), dtype=np.int64
        )
        per_group.sum_duplicates()
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        if group_index is not None:
            unit_counts = np.empty((b, n_units), dtype=np.int64)
            for row in range(b):
                unit_counts[row] = np.bincount(_unit_draws(rng, n_units), minlength=n_units)
            yield np.ascontiguousarray((per_group @ unit_counts.T).T, dtype=np.int64)
        elif k * CELL_MULTINOMIAL_RATIO <= n:
            yield rng.multinomial(n, cells.sizes / n, size=b).astype(np.int64, copy=False)
        else:
            out = np.zeros((b, k), dtype=np.int64)
            picked = np.empty(n, dtype=np.intp)  # reused: no allocation per replicate
            for row in range(b):
                np.add.at(out[row], np.take(cells.of_sample, _unit_draws(rng, n), out=picked), 1)
            yield out


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
) -> np.ndarray:
    """The ``n_boot`` bootstrap replicates of ``metric`` (float array, NaN where undefined).

    Metrics with a registered cell key use the cell fast path (:func:`iter_cell_counts`), others the per-sample
    counts of :func:`iter_counts`.
    """
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    n = _check_inputs(metric, y_true, y_score)
    cells = cells_of(metric, y_true, y_score)
    if cells is not None:  # cell fast path: representatives weighted by cell counts
        y_rep, s_rep = _read_only(y_true[cells.index]), _read_only(y_score[cells.index])
        chunks = iter_cell_counts(cells, n_boot, seed, groups=groups)
    else:
        y_rep, s_rep = _read_only(y_true), _read_only(y_score)
        chunks = _count_chunks(n, n_boot, seed, groups=groups, chunk_rows=None, reuse=True)
    parts = [_evaluate(metric, y_rep, s_rep, c) for c in chunks]
    return np.concatenate(parts) if parts else np.empty(0)


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
    _, group_index = _units(n, groups)
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
        reps = replicates(metric, y_true, y_score, n_boot=n_boot, seed=seed, groups=groups)
        reps = reps[np.isfinite(reps)]
        if math.isnan(value) or reps.size == 0:
            return Estimate(value=value, low=math.nan, high=math.nan, n_boot=n_boot, interval=interval)
        if interval == "percentile":
            low, high = _percentile(reps, level)
        else:
            accel = acceleration(metric, y_true, y_score, groups=groups, seed=seed)
            low, high = _bca(reps, value, accel, level)
    return Estimate(value=value, low=low, high=high, n_boot=n_boot, interval=interval)


def _single_blas_thread() -> Any:
    """Context manager pinning BLAS to one thread (metrics may use matmul; keeps numpy and torch pools apart)."""
    from threadpoolctl import threadpool_limits

    limiter: Callable[..., Any] = threadpool_limits
    return limiter(limits=1, user_api="blas")
