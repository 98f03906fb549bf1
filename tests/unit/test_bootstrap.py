"""The shared bootstrap (and dabench.stats.resampling, which it re-exports): determinism, resampling, grouped
resampling, the
intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from dabench.builtins.metrics import METRICS
from dabench.errors import SpecError
from dabench.specs import MetricSpec
from dabench.stats.bootstrap import (
    CELL_MULTINOMIAL_RATIO,
    Estimate,
    acceleration,
    bootstrap,
    cell_key,
    cells_of,
    iter_cell_counts,
    iter_counts,
    replicates,
    round_replicates,
    uses_sample_stream,
)

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


def _per_sample(spec: MetricSpec) -> MetricSpec:
    """``spec`` without its cell key: the same ``resampled`` behind a new function, so the per-sample path is used."""
    resampled = spec.resampled
    assert resampled is not None

    def res(y: np.ndarray, s: np.ndarray, c: np.ndarray) -> np.ndarray:
        return resampled(y, s, c)

    return MetricSpec(name=spec.name, fn=spec.fn, higher_is_better=True, bounds=(0, 1), resampled=res)


def test_bootstrap_is_deterministic_and_vectorised_matches_loop() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    p = rng.dirichlet(np.ones(3), 150)
    for name in ("accuracy", "macro_f1", "auc", "balanced_accuracy"):
        spec = SPECS[name]
        assert cell_key(spec) is not None and cell_key(_per_sample(spec)) is None
        loop = MetricSpec(name=name, fn=spec.fn, higher_is_better=True, bounds=(0, 1))
        fast = replicates(_per_sample(spec), y, p, n_boot=40, seed=9)
        np.testing.assert_allclose(fast, replicates(loop, y, p, n_boot=40, seed=9), atol=1e-12)
    # AUC on continuous scores has a cell per sample: the cell path draws the very same replicates
    np.testing.assert_allclose(
        replicates(SPECS["auc"], y, p, n_boot=40, seed=9),
        replicates(_per_sample(SPECS["auc"]), y, p, n_boot=40, seed=9),
        atol=1e-12,
    )
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


# ------------------------------------------------------------------------------------------- cell fast path


def _f1_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    logits = rng.standard_normal((n, 4)) + 1.2 * np.eye(4)[y]
    return y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def _auc_data(n: int, seed: int = 0, decimals: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.clip(0.5 + 0.2 * (y - 0.5) + 0.25 * rng.standard_normal(n), 0, 1).round(decimals)  # heavy ties
    return y, np.stack([1 - s, s], 1)


def test_cells_partition_samples_into_interchangeable_groups() -> None:
    y, p = _f1_data(500)
    cells = cells_of(SPECS["macro_f1"], y, p)
    assert cells is not None and cells.n_cells <= 16 and cells.sizes.sum() == 500
    pred = p.argmax(1)
    for k in range(cells.n_cells):
        members = np.flatnonzero(cells.of_sample == k)
        assert members.size == cells.sizes[k] and cells.index[k] == members[0]
        assert np.unique(y[members]).size == 1 and np.unique(pred[members]).size == 1
    ya, pa = _auc_data(500)
    auc_cells = cells_of(SPECS["auc"], ya, pa)
    assert auc_cells is not None
    rep = auc_cells.index
    assert np.all(np.diff(pa[rep, 1]) >= 0)  # cells in score order
    assert np.array_equal(ya[rep][auc_cells.of_sample], ya) and np.array_equal(
        pa[rep, 1][auc_cells.of_sample], pa[:, 1]
    )
    assert cells_of(_per_sample(SPECS["auc"]), ya, pa) is None


@pytest.mark.parametrize("name", ["macro_f1", "auc"])
def test_cell_counts_are_seeded_and_chunk_independent(name: str) -> None:
    y, p = _f1_data(400) if name == "macro_f1" else _auc_data(400, decimals=3)
    cells = cells_of(SPECS[name], y, p)
    assert cells is not None
    multinomial = cells.n_cells * CELL_MULTINOMIAL_RATIO <= 400
    assert multinomial == (name == "macro_f1")  # both draw modes are covered
    a = np.concatenate(list(iter_cell_counts(cells, 50, seed=3)))
    b = np.concatenate(list(iter_cell_counts(cells, 50, seed=3, chunk_rows=7)))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, cells.n_cells) and (a.sum(1) == 400).all() and (a >= 0).all()
    assert not np.array_equal(a, np.concatenate(list(iter_cell_counts(cells, 50, seed=4))))
    if not multinomial:  # per-sample draws: the very same replicates as iter_counts, counted per cell
        per_sample = np.concatenate(list(iter_counts(400, 50, seed=3)))
        expected = np.stack([np.bincount(cells.of_sample, weights=r, minlength=cells.n_cells) for r in per_sample])
        np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("name", ["macro_f1", "auc"])
def test_cell_replicates_equal_sklearn_on_expanded_resamples(name: str) -> None:
    y, p = _f1_data(3000) if name == "macro_f1" else _auc_data(3000)
    spec = SPECS[name]
    cells = cells_of(spec, y, p)
    assert cells is not None
    ours = replicates(spec, y, p, n_boot=30, seed=1)
    expected = []
    for row in np.concatenate(list(iter_cell_counts(cells, 30, seed=1))):
        take = np.repeat(cells.index, row)
        if name == "macro_f1":
            expected.append(f1_score(y[take], p[take].argmax(1), average="macro"))
        else:
            expected.append(roc_auc_score(y[take], p[take, 1]))
        assert take.size == 3000
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "macro_f1", "auc"])
def test_cell_path_has_the_per_sample_bootstrap_distribution(name: str) -> None:
    y, p = _f1_data(600, seed=2) if name != "auc" else _auc_data(600, seed=2, decimals=1)
    spec = SPECS[name]
    cells = cells_of(spec, y, p)
    assert cells is not None and cells.n_cells * CELL_MULTINOMIAL_RATIO <= 600  # multinomial draws
    n_boot = 4000
    fast = replicates(spec, y, p, n_boot=n_boot, seed=0)
    slow = replicates(_per_sample(spec), y, p, n_boot=n_boot, seed=1)
    # independent draws of the same distribution: means within 4 standard errors, variances within 4 (approx.) s.e.
    se_mean = np.sqrt(fast.var() / n_boot + slow.var() / n_boot)
    assert abs(fast.mean() - slow.mean()) < 4 * se_mean
    se_var = slow.var() * np.sqrt(2 / (n_boot - 1)) * np.sqrt(2)
    assert abs(fast.var() - slow.var()) < 4 * se_var
    assert abs(np.quantile(fast, 0.05) - np.quantile(slow, 0.05)) < 0.5 * np.sqrt(slow.var())


@pytest.mark.parametrize("name", ["macro_f1", "auc"])
def test_grouped_cell_path_equals_per_sample_grouped_path(name: str) -> None:
    y, p = _f1_data(300, seed=5) if name == "macro_f1" else _auc_data(300, seed=5)
    groups = np.random.default_rng(1).integers(0, 40, 300).astype(str)
    spec = SPECS[name]
    fast = replicates(spec, y, p, n_boot=60, seed=2, groups=groups)
    slow = replicates(_per_sample(spec), y, p, n_boot=60, seed=2, groups=groups)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    e = bootstrap(spec, y, p, n_boot=200, seed=2, groups=groups, interval="bca")
    assert e.low <= e.value <= e.high


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "auc"])
def test_cell_jackknife_equals_per_sample_leave_one_out(name: str) -> None:
    y, p = _f1_data(400, seed=6) if name != "auc" else _auc_data(400, seed=6, decimals=1)
    spec = SPECS[name]
    exact = acceleration(_per_sample(spec), y, p)  # n <= 1000: leave-one-sample-out
    assert acceleration(spec, y, p) == pytest.approx(exact, rel=1e-9, abs=1e-12)
    cells_bca = bootstrap(spec, y, p, n_boot=300, seed=0, interval="bca")
    assert cells_bca.interval == "bca" and cells_bca.low <= cells_bca.value <= cells_bca.high


def test_cell_path_degenerate_inputs() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(2), 50)
    one_class = np.ones(50, dtype=np.int64)
    e = bootstrap(SPECS["auc"], one_class, p, n_boot=50, seed=0)  # AUC undefined: NaN value and interval
    assert math.isnan(e.value) and math.isnan(e.low) and math.isnan(e.high)
    assert np.isnan(replicates(SPECS["auc"], one_class, p, n_boot=5, seed=0)).all()
    perfect = np.eye(2)[one_class]  # one cell only: every replicate is the full-data value
    f1 = bootstrap(SPECS["macro_f1"], one_class, perfect, n_boot=50, seed=0, interval="bca")
    assert (f1.value, f1.low, f1.high) == (1.0, 1.0, 1.0)
    single = bootstrap(SPECS["accuracy"], np.array([1]), np.array([[0.2, 0.8]]), n_boot=10, seed=0, interval="bca")
    assert (single.value, single.low, single.high) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "auc"])
def test_paired_replicates_come_from_the_per_sample_stream_whatever_the_predictions(name: str) -> None:
    y, p = _f1_data(800, seed=3) if name != "auc" else _auc_data(800, seed=3, decimals=1)
    other = np.roll(p, 1, axis=0)  # another model on the same test set
    spec = SPECS[name]
    assert not uses_sample_stream(spec, y, p)  # the interval takes the multinomial shortcut here
    for scores in (p, other):
        est = bootstrap(spec, y, scores, n_boot=80, seed=4, paired=True)
        assert est.paired is not None and len(est.paired) == 80
        expected = replicates(_per_sample(spec), y, scores, n_boot=80, seed=4)  # per-sample counts, same seed
        np.testing.assert_allclose(est.paired, expected, rtol=1e-5, atol=1e-9)
        assert est.paired == round_replicates(replicates(spec, y, scores, n_boot=80, seed=4, per_sample=True))
        assert est.low == bootstrap(spec, y, scores, n_boot=80, seed=4).low  # the interval is unchanged
    assert bootstrap(spec, y, p, n_boot=80, seed=4).paired is None


def test_paired_replicates_reuse_the_interval_replicates_and_roundtrip() -> None:
    y, p = _auc_data(300, seed=1)  # continuous scores: a cell per sample, the interval already uses the stream
    spec = SPECS["auc"]
    assert uses_sample_stream(spec, y, p)
    est = bootstrap(spec, y, p, n_boot=50, seed=2, paired=True)
    assert est.paired == round_replicates(replicates(spec, y, p, n_boot=50, seed=2))
    back = Estimate.from_dict(json.loads(json.dumps(est.as_dict(), allow_nan=False)))
    assert back == est and "paired" not in bootstrap(spec, y, p, n_boot=50, seed=2).as_dict()
    one_class = np.ones(50, dtype=np.int64)  # AUC undefined on every replicate: NaN stored as null
    undefined = bootstrap(spec, one_class, p[:50], n_boot=5, seed=0, paired=True)
    assert undefined.as_dict()["paired"] == [None] * 5
    assert round_replicates(np.array([0.123456789, 12345.6789, np.nan]))[:2] == (0.123457, 12345.7)
