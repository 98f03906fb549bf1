"""Synthetic ``perlin_grid`` / ``shift_grid`` records with known structure, for the analysis tests.

A Perlin source setting ``(s1, s2)`` and a target cell ``(t1, t2)`` have a *shift* ``d = |Δ brightness| + |Δ
contrast|``; the unadapted Dice falls with ``d``, the gain is a strictly increasing function of the
``latent_bhattacharyya`` diagnostic (set to ``d`` plus a tiny cell-specific offset, so values are distinct), and
the other diagnostics are either noisy functions of ``d`` or pure noise — so the expected ρ of each is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

GRID = (0.1, 0.3, 0.5, 0.7, 0.9)
SOURCES = ((0.7, 0.3), (0.3, 0.7), (0.6, 0.4))
EXTRA = "n_train=64,n_test=16"
N_REPS = 40
HALF = 0.01


def cells(grid: Sequence[float] = GRID) -> list[tuple[float, float]]:
    return [(a, b) for a in grid for b in grid if a != b]


def cell_name(mu1: float, mu2: float) -> str:
    return f"mu1={mu1:g},mu2={mu2:g}"


def shift(source: tuple[float, float], cell: tuple[float, float]) -> float:
    brightness = abs((cell[0] + cell[1]) / 2 - (source[0] + source[1]) / 2)
    contrast = abs((cell[0] - cell[1]) - (source[0] - source[1]))
    return brightness + contrast


def estimate(value: float, reps: np.ndarray | None = None, half: float = HALF) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "low": value - half, "high": value + half, "n_boot": 200,
                           "interval": "percentile"}  # fmt: skip
    if reps is not None:
        out["paired"] = [float(v) for v in reps]
    return out


def record(
    method: str,
    seed: int,
    metrics: Mapping[str, Mapping[str, dict[str, Any]]],
    *,
    protocol: str = "perlin_grid",
    dataset: str = "perlin",
    domain: str | None = None,
    shift_steps: Sequence[Mapping[str, Any]] = (),
    params: Mapping[str, Any] | None = None,
    diagnostics: Mapping[str, Mapping[str, float]] | None = None,
    status: str = "ok",
) -> dict[str, Any]:
    """One record of the study's format (``spec`` as ``RunSpec.canonical()`` writes it)."""
    base_params: dict[str, Any] = {"epochs": 1, "width": 4, "depth": 2, "weight_decay": 0.0}
    if method != "source_only":
        base_params |= {"adapt_batch_size": 32, "estimator": "exact"}
    spec = {
        "schema": 2,
        "protocol": protocol,
        "method": {"name": method, "version": "1"},
        "dataset": {"name": dataset, "version": "1", **({"domain": domain} if domain else {})},
        "target": None,
        "shift": list(shift_steps),
        "metrics": [{"name": m, "version": "1"} for m in ("dice", "iou", "pixel_accuracy", "foreground_fraction")],
        "params": base_params | dict(params or {}),
        "seed": seed,
        "n_bootstrap": 200,
    }
    key = f"{protocol}/{method}/{domain}/{shift_steps}/{seed}/{sorted((params or {}).items())}"
    out: dict[str, Any] = {
        "key": key,
        "status": status,
        "spec": spec,
        "metrics": {k: dict(v) for k, v in metrics.items()},
    }
    if diagnostics is not None:
        out["diagnostics"] = {k: dict(v) for k, v in diagnostics.items()}
    return out


def gain_of(bhattacharyya: float) -> float:
    """The synthetic gain: strictly increasing in the Bhattacharyya diagnostic."""
    return 0.6 * math.tanh(1.5 * bhattacharyya)


def perlin_records(
    sources: Sequence[tuple[float, float]] = SOURCES,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    grid: Sequence[float] = GRID,
    replicates: bool = True,
    diagnostics: Sequence[str] | None = None,
    gain: Callable[[float], float] = gain_of,
    overrides: Callable[[tuple[float, float], tuple[float, float]], tuple[float, ...] | None] | None = None,
) -> list[dict[str, Any]]:
    """source_only and adabn records for every source × seed. Per cell: unadapted Dice ``0.97 − 0.8·tanh(d)``,
    adapted ``unadapted + gain(bhattacharyya)`` (capped at 0.99), foreground fraction 0.5. ``overrides(source,
    cell)`` may return (unadapted, adapted, fg unadapted, fg adapted) for a cell instead. ``diagnostics``: the names
    to include (all by default)."""
    names = diagnostics if diagnostics is not None else (
        "latent_bhattacharyya", "latent_w2_gaussian", "latent_sliced_w2", "latent_mmd", "pixel_mean_diff",
        "pixel_std_diff", "entropy",
    )  # fmt: skip
    out = []
    for source in sources:
        domain = f"mu1={source[0]:g},mu2={source[1]:g},{EXTRA}"
        for seed in seeds:
            noise = np.random.default_rng([seed, 7])
            rng_reps = np.random.default_rng([seed, 11])
            arms: dict[str, dict[str, dict[str, dict[str, Any]]]] = {"source_only": {}, "adabn": {}}
            diag: dict[str, dict[str, float]] = {}
            cell_list = [*cells(grid)]
            for k, cell in enumerate([(source[0], source[1]), *cell_list]):
                name = "source" if k == 0 else cell_name(*cell)
                d = shift(source, cell) + 1e-3 * k
                u = 0.97 - 0.8 * math.tanh(2 * d) + 0.005 * noise.standard_normal()
                b = d
                a = min(u + gain(b), 0.99)
                fu = fa = 0.5
                if overrides is not None and k > 0:
                    given = overrides(source, cell)
                    if given is not None:
                        u, a, fu, fa = given
                common = rng_reps.standard_normal(N_REPS) * 0.01
                ru = u + common if replicates else None
                ra = a + common + rng_reps.standard_normal(N_REPS) * 0.002 if replicates else None
                arms["source_only"][name] = {"dice": estimate(u, ru), "foreground_fraction": estimate(fu)}
                arms["adabn"][name] = {"dice": estimate(a, ra), "foreground_fraction": estimate(fa)}
                if k > 0:
                    rng_cell = np.random.default_rng([int(cell[0] * 10), int(cell[1] * 10), int(source[0] * 10)])
                    values = {
                        "latent_bhattacharyya": b,
                        "latent_w2_gaussian": d + 0.3 * rng_cell.standard_normal(),
                        "latent_sliced_w2": d + 0.1 * rng_cell.standard_normal(),
                        "latent_mmd": float(rng_cell.uniform()),
                        "pixel_mean_diff": abs((cell[0] + cell[1] - source[0] - source[1]) / 2),
                        "pixel_std_diff": float(rng_cell.uniform()),
                        "entropy": d + 0.5 * rng_cell.standard_normal(),
                    }
                    diag[name] = {n: values[n] for n in names}
            for method, metrics in arms.items():
                out.append(record(method, seed, metrics, domain=domain, diagnostics=diag))
    return out


def shift_records(
    shifts: Mapping[str, Sequence[float]] = {"brightness": (-0.3, 0.0, 0.3), "gamma": (-1.0, 1.0)},
    seeds: Sequence[int] = (0, 1),
    *,
    replicates: bool = False,
) -> list[dict[str, Any]]:
    """source_only and adabn ``shift_grid`` records on ISBI: unadapted Dice ``0.9 − 0.5·|i|``, gain ``0.3·|i|``."""
    out = []
    for name, grid in shifts.items():
        steps = [{"name": name, "version": "1", "intensity": 0.0}]
        for seed in seeds:
            rng = np.random.default_rng([seed, 3])
            arms: dict[str, dict[str, dict[str, dict[str, Any]]]] = {"source_only": {}, "adabn": {}}
            for i in (None, *grid):
                domain = "source" if i is None else f"test@{i:g}"
                level = 0.0 if i is None else abs(i)
                u = 0.9 - 0.5 * level + 0.01 * rng.standard_normal()
                a = u + 0.3 * level + 0.01 * rng.standard_normal()
                reps = rng.standard_normal(N_REPS) * 0.01
                arms["source_only"][domain] = {"dice": estimate(u, u + reps if replicates else None),
                                               "foreground_fraction": estimate(0.3)}  # fmt: skip
                arms["adabn"][domain] = {"dice": estimate(a, a + reps if replicates else None),
                                         "foreground_fraction": estimate(0.3)}  # fmt: skip
            for method, metrics in arms.items():
                out.append(record(method, seed, metrics, protocol="shift_grid", dataset="isbi2012",
                                  domain="size=64", shift_steps=steps))  # fmt: skip
    return out
