"""The shared bootstrap: determinism, resampling, grouped resampling, percentile and BCa intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dabench.bootstrap import Estimate, acceleration, bootstrap, iter_counts, replicates
from dabench.builtins.metrics import METRICS
from dabench.errors import SpecError
from dabench.specs import MetricSpec

SPECS = {spec.name: spec for spec in METRICS}


def _mean_metric(vectorised: bool) -> MetricSpec:
    """The mean of y_true (a plain statistic, to test intervals against known sampling distributions)."""

    def fn(y: np.ndarray, _s: np.ndarray) -> float:
        return float(np.mean(y))

    def res(y: np.ndarray, _s: np.ndarray, c: np.ndarray) -> np.ndarray:
        return (c @ y) / c.sum(1)

    resampled = res if vectorised else None
    return MetricSpec(name="mean", fn=fn, higher_is_better=True, bounds=(-1e9, 1e9), resampled=resampled)


def test_estimate_roundtrip_and_format() -> None:
    e = Estimate(value=0.9123, low=0.8971, high=0.9249, n_boot=1000, interval="percentile")
    assert e.format() == "0.912 [0.897, 0.925]"
    assert Estimate.from_dict(json.loads(json.dumps(e.as_dict(), allow_nan=False))) == e
    nan = Estimate(value=math.nan, low=math.nan, high=math.nan, n_boot=10, interval="bca")
    back = Estimate.from_dict(json.loads(json.dumps(nan.as_dict(), allow_nan=False)))
    assert math.isnan(back.value) and back.interval == "bca"
    assert Estimate(value=0.5, low=0.5, high=0.5, n_boot=0, interval="none").format(2) == "0.50"


def test_counts_are_seeded_multinomial_and_chunk_independent() -> None:
    a = np.concatenate(list(iter_counts(50, 30, seed=3)))
    b = np.concatenate(list(iter_counts(50, 30, seed=3, chunk_rows=7)))
    c = np.concatenate(list(iter_counts(50, 30, seed=4)))
    assert a.shape == (30, 50) and (a.sum(1) == 50).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    big = np.concatenate(list(iter_counts(200, 400, seed=0)))
    assert big.mean() == pytest.approx(1.0) and big.var() == pytest.approx(1 - 1 / 200, rel=0.05)


def test_grouped_counts_resample_whole_groups() -> None:
    groups = np.repeat(np.array(["p1", "p2", "p3", "p4"]), [1, 2, 3, 4])
    for row in np.concatenate(list(iter_counts(10, 50, seed=1, groups=groups))):
        for g in np.unique(groups):
            assert len(set(row[groups == g])) == 1  # every sample of a group drawn the same number of times
        assert np.unique(row[np.r_[0, 1, 3, 6]]).size >= 1 and (row[np.r_[0, 1, 3, 6]].sum() == 4)


def test_bootstrap_is_deterministic_and_vectorised_matches_loop() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    p = rng.dirichlet(np.ones(3), 150)
    for name in ("accuracy", "macro_f1", "auc", "balanced_accuracy"):
        spec = SPECS[name]
        loop = MetricSpec(name=name, fn=spec.fn, higher_is_better=True, bounds=(0, 1))
        fast = replicates(spec, y, p, n_boot=40, seed=9)
        np.testing.assert_allclose(fast, replicates(loop, y, p, n_boot=40, seed=9), atol=1e-12)
    e1 = bootstrap(SPECS["auc"], y, p, n_boot=200, seed=5)
    assert e1 == bootstrap(SPECS["auc"], y, p, n_boot=200, seed=5)
    assert e1 != bootstrap(SPECS["auc"], y, p, n_boot=200, seed=6)
    assert e1.low <= e1.value <= e1.high and e1.n_boot == 200


def test_zero_replicates_and_validation() -> None:
    y, p = np.array([0, 1, 1]), np.eye(2)[[0, 1, 0]]
    e = bootstrap(SPECS["accuracy"], y, p, n_boot=0, seed=0)
    assert (e.value, e.low, e.high, e.interval) == (pytest.approx(2 / 3), e.value, e.value, "none")
    with pytest.raises(SpecError, match="interval"):
        bootstrap(SPECS["accuracy"], y, p, seed=0, interval="student")
    with pytest.raises(SpecError, match="samples"):
        bootstrap(SPECS["accuracy"], y, p[:2], seed=0)


def test_percentile_interval_covers_normal_mean() -> None:
    spec = _mean_metric(True)
    hits = 0
    for trial in range(40):
        x = np.random.default_rng(100 + trial).normal(0.0, 1.0, 60)
        e = bootstrap(spec, x, x[:, None], n_boot=300, seed=trial)
        hits += e.low <= 0.0 <= e.high
        width = e.high - e.low
        assert width == pytest.approx(2 * 1.96 / np.sqrt(60), rel=0.35)
    assert hits >= 33  # nominal 95 %: 38 of 40 expected


def test_segmentation_resamples_images() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (8, 5, 5))
    s = rng.random((8, 2, 5, 5))
    e = bootstrap(SPECS["dice"], y, s, n_boot=100, seed=0)
    assert e.low <= e.value <= e.high


def test_grouped_bootstrap_is_wider_for_clustered_data() -> None:
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(12), 25)
    x = np.repeat(rng.normal(0, 1, 12), 25) + rng.normal(0, 0.1, 300)  # strong within-group correlation
    spec = _mean_metric(True)
    plain = bootstrap(spec, x, x[:, None], n_boot=400, seed=0)
    grouped = bootstrap(spec, x, x[:, None], n_boot=400, seed=0, groups=groups)
    assert (grouped.high - grouped.low) > 3 * (plain.high - plain.low)


def test_bca_shifts_interval_for_skewed_statistic() -> None:
    x = np.random.default_rng(11).exponential(1.0, 80)
    spec = _mean_metric(False)
    pct = bootstrap(spec, x, x[:, None], n_boot=2000, seed=1)
    bca = bootstrap(spec, x, x[:, None], n_boot=2000, seed=1, interval="bca")
    assert bca.interval == "bca" and bca.value == pct.value
    # right-skewed sampling distribution: BCa moves both ends up relative to the percentile interval
    assert bca.high > pct.high and bca.low > pct.low
    a = acceleration(spec, x, x[:, None])
    n = x.size
    d = x - x.mean()  # exact jackknife acceleration of the mean: skewness / (6 sqrt(n)) form
    expected = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    assert a == pytest.approx(expected, rel=1e-9) and a > 0
    assert n == 80


def test_blocked_jackknife_for_large_n_is_close() -> None:
    x = np.random.default_rng(0).exponential(1.0, 3000)  # 3 units per jackknife block
    spec = _mean_metric(True)
    d = x - x.mean()
    exact = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    assert acceleration(spec, x, x[:, None], seed=0) == pytest.approx(exact, rel=0.25)
