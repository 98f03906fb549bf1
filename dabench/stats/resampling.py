"""Drawing bootstrap resamples: per-sample multiplicity counts and the exact cell fast path.

Replicates are *multiplicity counts* ``[B, N]``: row ``b`` says how often each sample (or, grouped, each sample of a
drawn group) appears in replicate ``b``. Counts are drawn with ``np.random.default_rng(seed)`` (``n`` uniform draws
with replacement per replicate, i.e. multinomial counts), in row chunks of at most ``CHUNK_ELEMENTS`` counts (4 MB of
int64). This uniform stream of unit indices is *the per-sample stream*: it depends only on ``(n, seed, groups)``,
never on the data, so two models evaluated on the same test set with the same seed see the same resamples.

Cell fast path (exact). Many metrics depend on the samples only through how many samples fall in each of a few
*cells* of interchangeable samples: confusion-matrix metrics (accuracy, balanced accuracy, macro-F1) through the
``C x C`` (label, prediction) cells, ROC AUC through the (distinct score, label) cells. A metric declares this with
:func:`register_cell_key` (keyed by its ``resampled`` function): ``key(y_true, y_score)`` gives every sample an
integer key, and samples with equal keys must be interchangeable for the metric. The bootstrap then works on the
``K`` cells (:func:`cells_of`): a replicate is a vector of cell counts ``[K]`` and is evaluated as
``resampled(y_true[rep], y_score[rep], cell_counts)`` on one representative sample per cell, which by the contract
of ``resampled`` equals the metric on the expanded resample. The cell counts are drawn (:func:`iter_cell_counts`)

* ungrouped, with at least ``CELL_MULTINOMIAL_RATIO`` samples per cell on average (unless ``per_sample`` is asked
  for): as one multinomial over the cells, ``rng.multinomial(n, sizes / n)``. Drawing ``n`` samples uniformly with
  replacement and counting them per cell gives exactly this multinomial (a sum of the multinomial sample counts over
  a partition is multinomial with the summed probabilities), so the bootstrap distribution is the same as the
  per-sample one at ``O(K)`` cost per replicate instead of ``O(n)``; but the random stream (and so the individual
  replicates) differs from :func:`iter_counts`, and since the cells come from the predictions, two models get
  different resamples;
* ungrouped, otherwise: from the very same uniform draws as :func:`iter_counts`, each drawn sample counted in its
  cell, so the replicates are *identical* to the per-sample path (just cheaper to evaluate);
* grouped: group multiplicities are drawn exactly as :func:`iter_counts` draws them and multiplied by the
  ``[G, K]`` matrix of per-group cell counts (a group contributes its cell-count vector once per draw), so the
  replicates are again identical to the per-sample grouped path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dabench.errors import SpecError
from dabench.specs import MetricSpec

CHUNK_ELEMENTS = 1 << 19
"""Largest number of counts (rows x samples) held in one chunk of replicates."""
CELL_MULTINOMIAL_RATIO = 16
"""Cell counts are drawn as one multinomial over the cells when there are at least this many samples per cell
(numpy's multinomial costs about one binomial draw per cell, ~15x a uniform integer draw per sample)."""


# ------------------------------------------------------------------------------------------- resampling


def units_of(n: int, groups: np.ndarray | None) -> tuple[int, np.ndarray | None]:
    """Number of resampling units and, for grouped data, each sample's group index (``None`` ungrouped)."""
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
    yield from count_chunks(n, n_boot, seed, groups=groups, chunk_rows=chunk_rows, reuse=False)


def count_chunks(
    n: int, n_boot: int, seed: int, *, groups: np.ndarray | None, chunk_rows: int | None, reuse: bool
) -> Iterator[np.ndarray]:
    """:func:`iter_counts`; with ``reuse`` every chunk is a view of one buffer (allocated once, no page faults)."""
    n_units, group_index = units_of(n, groups)
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
    cells: Cells,
    n_boot: int,
    seed: int,
    *,
    groups: np.ndarray | None = None,
    chunk_rows: int | None = None,
    per_sample: bool = False,
) -> Iterator[np.ndarray]:
    """Yield bootstrap *cell* counts in chunks of rows, ``[b, K]`` int64, ``n_boot`` rows in all.

    Row ``b`` counts, per cell, the samples of replicate ``b`` (see the module docstring for how they are drawn and
    why this is the same bootstrap). The same ``(cells, n_boot, seed, groups)`` gives the same replicates whatever
    ``chunk_rows`` is. ``per_sample`` never takes the multinomial shortcut: the counts then always come from the
    per-sample stream of :func:`iter_counts` (the resamples depend on ``(n, seed, groups)`` only, not on the data).
    """
    n, k = int(cells.of_sample.size), cells.n_cells
    n_units, group_index = units_of(n, groups)
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
        elif k * CELL_MULTINOMIAL_RATIO <= n and not per_sample:
            yield rng.multinomial(n, cells.sizes / n, size=b).astype(np.int64, copy=False)
        else:
            out = np.empty((b, k), dtype=np.int64)
            picked = np.empty(n, dtype=np.intp)  # reused: no allocation per replicate
            for row in range(b):
                out[row] = np.bincount(np.take(cells.of_sample, _unit_draws(rng, n), out=picked), minlength=k)
            yield out
