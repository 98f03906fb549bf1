"""Benchmark: dabench's latent distances vs POT / scipy baselines, on 1,000x512 and 10,000x512 feature sets.

Sliced W2 (1,000 projections; baseline ``ot.sliced_wasserstein_distance`` with the same projections) and Gaussian
W2 (baseline: the ``scipy.linalg.sqrtm`` formula). Ends with ``RESULT`` lines (seconds, and the speed-ups).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tabulate import tabulate

from dabench.stats import distances as dist


def _timed(fn: Callable[[], float], repeat: int = 3) -> tuple[float, float]:
    best, value = np.inf, 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def _gaussian_w2_sqrtm(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.linalg import sqrtm

    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = sqrtm(sx)
    w2 = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(sx + sy - 2 * np.real(sqrtm(root @ sy @ root)))
    return float(np.sqrt(max(w2, 0.0)))


def main() -> None:
    import ot

    rng = np.random.default_rng(0)
    rows, results = [], {}
    for n in (1_000, 10_000):
        x = rng.standard_normal((n, 512))
        y = 0.8 * rng.standard_normal((n, 512)) + 0.1
        proj = dist.random_projections(512, 1000, seed=0)
        t_sw, v_sw = _timed(lambda x=x, y=y, proj=proj: dist.sliced_wasserstein(x, y, projections=proj))
        t_sw_ot, v_sw_ot = _timed(
            lambda x=x, y=y, proj=proj: float(ot.sliced_wasserstein_distance(x, y, projections=proj))
        )
        t_g, v_g = _timed(lambda x=x, y=y: dist.gaussian_wasserstein(x, y))
        t_g_sc, v_g_sc = _timed(lambda x=x, y=y: _gaussian_w2_sqrtm(x, y), repeat=1)
        rows.append(
            [
                "sliced W2 (P=1000)",
                f"{n}x512",
                f"{t_sw:.3f}",
                f"{t_sw_ot:.3f}",
                f"{t_sw_ot / t_sw:.1f}x",
                f"{abs(v_sw - v_sw_ot):.1e}",
            ]
        )
        rows.append(
            [
                "Gaussian W2",
                f"{n}x512",
                f"{t_g:.3f}",
                f"{t_g_sc:.3f}",
                f"{t_g_sc / t_g:.1f}x",
                f"{abs(v_g - v_g_sc):.1e}",
            ]
        )
        results[n] = (t_sw, t_g, t_sw_ot / t_sw, t_g_sc / t_g)
    print(
        tabulate(rows, headers=["distance", "size", "dabench s", "baseline s", "speedup", "|diff|"], tablefmt="github")
    )
    print("baselines: POT ot.sliced_wasserstein_distance (same projections); scipy.linalg.sqrtm formula")
    for n, (t_sw, t_g, s_sw, s_g) in results.items():
        print(f"RESULT sliced_w2_seconds_{n} {t_sw:.3f}")
        print(f"RESULT gaussian_w2_seconds_{n} {t_g:.3f}")
        print(f"RESULT sliced_w2_speedup_{n} {s_sw:.1f}")
        print(f"RESULT gaussian_w2_speedup_{n} {s_g:.1f}")


if __name__ == "__main__":
    main()
