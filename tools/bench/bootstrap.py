"""Benchmark: dabench's vectorised bootstrap vs a scikit-learn loop over the same replicates.

AUC (binary) and macro-F1 (10 classes), B = 1,000 replicates, at n = 10,000 and n = 100,000. Both sides draw the same
replicates (``dabench.bootstrap.iter_counts``), timings include the draws, and the replicate values are compared.
Ends with ``RESULT bootstrap_auc_speedup <x>`` and ``RESULT bootstrap_f1_speedup <x>`` (n = 100,000).

Run: ``python tools/bench/bootstrap.py`` (``--baseline-reps 100`` times the scikit-learn loop on the first 100
replicates only and extrapolates, for a quick look).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score
from tabulate import tabulate

from dabench.bootstrap import iter_counts, replicates
from dabench.builtins.metrics import METRICS

SPECS = {spec.name: spec for spec in METRICS}
N_BOOT = 1000
SEED = 0


def _data(n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    y2 = rng.integers(0, 2, n)
    s = np.clip(0.5 + 0.2 * (y2 - 0.5) + 0.25 * rng.standard_normal(n), 0, 1).round(4)  # ties included
    y10 = rng.integers(0, 10, n)
    logits = rng.standard_normal((n, 10)) + 1.5 * np.eye(10)[y10]
    p10 = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return {"auc": (y2, np.stack([1 - s, s], 1)), "macro_f1": (y10, p10)}


def _sklearn_loop(name: str, y: np.ndarray, p: np.ndarray, reps: int) -> np.ndarray:
    fn: Callable[[np.ndarray, np.ndarray], float]
    if name == "auc":
        score = p[:, 1]

        def fn(idx: np.ndarray) -> float:
            return float(roc_auc_score(y[idx], score[idx]))
    else:
        pred = p.argmax(1)

        def fn(idx: np.ndarray) -> float:
            return float(f1_score(y[idx], pred[idx], average="macro"))

    out: list[float] = []
    index = np.arange(len(y))
    for chunk in iter_counts(len(y), reps, SEED):
        out.extend(fn(np.repeat(index, row)) for row in chunk)
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline-reps", type=int, default=N_BOOT)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    rows, speedups = [], {}
    for n in (10_000, 100_000):
        for name, (y, p) in _data(n, rng).items():
            t0 = time.perf_counter()
            ours = replicates(SPECS[name], y, p, n_boot=N_BOOT, seed=SEED)
            t_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            base = _sklearn_loop(name, y, p, args.baseline_reps)
            t_base = (time.perf_counter() - t0) * N_BOOT / args.baseline_reps
            diff = float(np.max(np.abs(ours[: base.size] - base)))
            speedups[(name, n)] = t_base / t_ours
            rows.append([name, n, N_BOOT, f"{t_ours:.3f}", f"{t_base:.2f}", f"{t_base / t_ours:.1f}x", f"{diff:.1e}"])
    print(tabulate(rows, headers=["metric", "n", "B", "dabench s", "sklearn loop s", "speedup", "max |diff|"],
                   tablefmt="github"))
    print(f"RESULT bootstrap_auc_speedup {speedups[('auc', 100_000)]:.1f}")
    print(f"RESULT bootstrap_f1_speedup {speedups[('macro_f1', 100_000)]:.1f}")


if __name__ == "__main__":
    main()
