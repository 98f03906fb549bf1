"""Synthetic ``dann4`` records with a known decomposition: a sigmoid degradation and a gaussian × quadratic gain
(the paper's models), with seed noise; helpers shared by the study plugin's tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dabench_dann_study.fits import gaussian_quadratic, sigmoid

TEST_I = [round(0.1 * k, 1) for k in range(13)]  # 0 .. 1.2, as in the paper's noise experiments
DA_J = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
REF = 0.98
DEG = {"d_max": 0.78, "k": 9.0, "i0": 0.75}
GAIN = {"mu": 0.9, "sigma": 0.2, "a": -0.4, "b": 0.4, "c": 0.35}
HALF = 0.003  # bootstrap half-width of every synthetic estimate


def record(
    method: str,
    seed: int,
    scores: Mapping[float, float | None],
    da_j: float | None = None,
    *,
    collapsed: Mapping[float, bool] | None = None,
    params: Mapping[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """One record: ``method`` trained at DA intensity ``da_j`` (None: no DA data) with ``seed``, scoring
    ``scores[i]`` at test intensity ``i``."""
    test_shift = kw.get("test_shift", "noise")
    spec = {
        "protocol": "dann4",
        "method": {"name": method, "version": "1"},
        "dataset": {"name": kw.get("dataset", "mnist"), "version": "1"},
        "target": None,
        "da_dataset": None if da_j is None else {"name": kw.get("da_dataset", "fashion_mnist"), "version": "1"},
        "da_shift": [] if da_j is None or kw.get("no_da_shift") else [
            {"name": kw.get("da_shift", test_shift), "version": "1", "intensity": da_j}
        ],
        "shift": [{"name": test_shift, "version": "1", "intensity": 0.0}],
        "test_intensities": sorted(scores),
        "params": dict(params or {}),
        "seed": seed,
        "metrics": [{"name": "accuracy"}],
    }  # fmt: skip
    metrics = {
        f"test@{i:g}": {
            "accuracy": {
                "value": v,
                "low": None if v is None else v - HALF,
                "high": None if v is None else v + HALF,
                "n_boot": 1000,
                "interval": "percentile",
            }
        }
        for i, v in scores.items()
    }
    validators = {f"test@{i:g}": {"collapsed": float(flag)} for i, flag in (collapsed or {}).items()}
    key = f"{method}-{da_j}-{seed}-{kw.get('da_dataset', '')}-{sorted((params or {}).items())}-{test_shift}"
    return {
        "key": key,
        "status": kw.get("status", "ok"),
        "spec": spec,
        "metrics": metrics,
        "validators": validators,
        "timings": {},
    }


def true_degradation(i: float) -> float:
    return float(sigmoid(np.array(i), **DEG) - sigmoid(np.array(0.0), **DEG))


def true_gain(i: float, j: float) -> float:
    return float(gaussian_quadratic(np.array([[i], [j]]), **GAIN)[0])


def records(n_seeds: int = 3, noise: float = 0.004, rng_seed: int = 0, **kw: Any) -> list[dict[str, Any]]:
    """source_only and DANN at every DA intensity of ``DA_J``, ``n_seeds`` seeds; DANN costs ``0.01 j``."""
    rng = np.random.default_rng(rng_seed)
    out = []
    da_j = kw.pop("da_j", DA_J)
    for seed in range(n_seeds):
        out.append(record("source_only", seed, {i: REF - true_degradation(i) + rng.normal(0, noise) for i in TEST_I}))
        for j in da_j:
            scores = {
                i: REF - true_degradation(i) - 0.01 * j + true_gain(i, j) - true_gain(0.0, j) + rng.normal(0, noise)
                for i in TEST_I
            }
            out.append(record("dann", seed, scores, da_j=j, **kw))
    return out
