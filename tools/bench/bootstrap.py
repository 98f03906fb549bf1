"""Benchmark: dabench's bootstrap vs a scikit-learn loop over the same replicates.

AUC (binary) and macro-F1 (10 classes), B = 1,000 replicates, at n = 10,000 and n = 100,000. Both metrics take the
exact cell fast path of :mod:`dabench.stats.bootstrap` (macro-F1: a multinomial over the 10 x 10 confusion cells; AUC:
the
uniform per-sample draws counted per (distinct score, label) cell). The scikit-learn side evaluates the *same*
replicates: it redraws the same cell counts (``iter_cell_counts`` with the same seed), expands each replicate to the
full resample of ``n`` samples (``np.repeat`` of one representative sample per cell) and calls ``roc_auc_score`` /
``f1_score(average="macro")`` on it. Both timings include drawing the replicates; the replicate values are compared
(``max |diff|``, required <= 1e-12). Ends with ``RESULT bootstrap_auc_speedup <x>`` and
``RESULT bootstrap_f1_speedup <x>`` (n = 100,000).

Run: ``python tools/bench/bootstrap.py`` (full comparison on all B replicates). ``--baseline-reps 100`` times the
scikit-learn loop on the first 100 replicates only and extrapolates its time to B, for a quick look.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score
from tabulate import tabulate

from dabench.builtins.metrics import METRICS
from dabench.stats.bootstrap import CELL_MULTINOMIAL_RATIO, cells_of, iter_cell_counts, replicates

SPECS = {spec.name: spec for spec in METRICS}
N_BOOT = 1000
SEED = 0
TOLERANCE = 1e-12


def _data(n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    y2 = rng.integers(0, 2, n)
    s = np.clip(0.5 + 0.2 * (y2 - 0.5) + 0.25 * rng.standard_normal(n), 0, 1).round(4)  # ties included
    y10 = rng.integers(0, 10, n)
    logits = rng.standard_normal((n, 10)) + 1.5 * np.eye(10)[y10]
    p10 = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return {"auc": (y2, np.stack([1 - s, s], 1)), "macro_f1": (y10, p10)}


def _sklearn_loop(name: str, y: np.ndarray, p: np.ndarray, reps: int) -> np.ndarray:
    """scikit-learn on each of the first ``reps`` replicates, expanded to its ``n`` resampled samples."""
    fn: Callable[[np.ndarray], float]
    if name == "auc":
        score = p[:, 1]

        def fn(idx: np.ndarray) -> float:
            return float(roc_auc_score(y[idx], score[idx]))
    else:
        pred = p.argmax(1)

        def fn(idx: np.ndarray) -> float:
            return float(f1_score(y[idx], pred[idx], average="macro"))

    cells = cells_of(SPECS[name], y, p)
    assert cells is not None
    out: list[float] = []
    for chunk in iter_cell_counts(cells, reps, SEED):
        out.extend(fn(np.repeat(cells.index, row)) for row in chunk)
    return np.asarray(out)


def _draw_mode(name: str, y: np.ndarray, p: np.ndarray) -> str:
    cells = cells_of(SPECS[name], y, p)
    assert cells is not None
    mode = "multinomial" if cells.n_cells * CELL_MULTINOMIAL_RATIO <= len(y) else "per-sample draws"
    return f"{cells.n_cells} ({mode})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-reps", type=int, default=N_BOOT, help="replicates timed in the sklearn loop")
    args = parser.parse_args()
    reps = min(max(1, args.baseline_reps), N_BOOT)
    if reps == N_BOOT:
        print(f"baseline: full comparison, scikit-learn loop on all {N_BOOT} replicates")
    else:
        factor = N_BOOT / reps
        print(f"baseline: scikit-learn loop on the first {reps} of {N_BOOT} replicates, time extrapolated x{factor:g}")
    rng = np.random.default_rng(42)
    rows, speedups, worst = [], {}, 0.0
    for n in (10_000, 100_000):
        for name, (y, p) in _data(n, rng).items():
            t0 = time.perf_counter()
            ours = replicates(SPECS[name], y, p, n_boot=N_BOOT, seed=SEED)
            t_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            base = _sklearn_loop(name, y, p, reps)
            t_base = (time.perf_counter() - t0) * N_BOOT / reps
            diff = float(np.max(np.abs(ours[: base.size] - base)))
            worst = max(worst, diff)
            speedups[(name, n)] = t_base / t_ours
            rows.append(
                [name, n, N_BOOT, _draw_mode(name, y, p), f"{t_ours:.3f}", f"{t_base:.2f}",
                 f"{t_base / t_ours:.1f}x", f"{diff:.1e}"]
            )  # fmt: skip
    headers = ["metric", "n", "B", "cells (draw)", "dabench s", "sklearn loop s", "speedup", "max |diff|"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    if worst > TOLERANCE:
        print(f"FAIL: replicate values differ by {worst:.1e} > {TOLERANCE:.0e}")
        sys.exit(1)
    print(f"values identical to {TOLERANCE:.0e} (max |diff| {worst:.1e})")
    print(f"RESULT bootstrap_auc_speedup {speedups[('auc', 100_000)]:.1f}")
    print(f"RESULT bootstrap_f1_speedup {speedups[('macro_f1', 100_000)]:.1f}")


if __name__ == "__main__":
    main()
