"""Latent distances against POT, scipy and direct formulas on small inputs."""

from __future__ import annotations

import numpy as np
import ot
import pytest
from scipy.linalg import sqrtm
from scipy.stats import wasserstein_distance

from dabench.errors import SpecError
from dabench.stats import distances as dist


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = rng.normal(size=(45, 5)) @ np.diag([1.0, 2.0, 0.5, 1.0, 1.5]) + 0.7
    return x, y


def test_gaussian_w2_matches_sqrtm_formula(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = sqrtm(sx)
    expected = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(sx + sy - 2 * np.real(sqrtm(root @ sy @ root)))
    assert dist.gaussian_wasserstein(x, y, squared=True) == pytest.approx(expected, rel=1e-8)
    assert dist.gaussian_wasserstein(x, y) == pytest.approx(np.sqrt(expected), rel=1e-8)
    assert dist.gaussian_wasserstein(x, x) == pytest.approx(0.0, abs=1e-6)


def test_sliced_wasserstein_matches_pot(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    proj = dist.random_projections(5, 50, seed=3)
    ours = dist.sliced_wasserstein(x, y, projections=proj)
    assert ours == pytest.approx(ot.sliced_wasserstein_distance(x, y, projections=proj, p=2), rel=1e-9)
    ours1 = dist.sliced_wasserstein(x[:45], y, projections=proj, p=1)
    assert ours1 == pytest.approx(ot.sliced_wasserstein_distance(x[:45], y, projections=proj, p=1), rel=1e-9)
    first = dist.sliced_wasserstein(x, y, n_projections=20, seed=1)
    assert first == dist.sliced_wasserstein(x, y, n_projections=20, seed=1)
    assert first != dist.sliced_wasserstein(x, y, n_projections=20, seed=2)
    assert np.allclose(np.linalg.norm(proj, axis=0), 1.0)


def test_exact_wasserstein_matches_emd2(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    cost = ot.dist(x, y, metric="euclidean") ** 2
    expected = np.sqrt(ot.emd2(np.full(60, 1 / 60), np.full(45, 1 / 45), cost))
    assert dist.exact_wasserstein(x, y) == pytest.approx(expected, rel=1e-9)
    sub = dist.exact_wasserstein(x, y, max_samples=30, seed=4)
    assert sub == dist.exact_wasserstein(x, y, max_samples=30, seed=4) and sub > 0


def test_per_dimension_wasserstein_matches_scipy(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    got = dist.wasserstein_per_dimension(x, y)
    expected = [wasserstein_distance(x[:, d], y[:, d]) for d in range(5)]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    got2 = dist.wasserstein_per_dimension(x, y, p=2)
    exp2 = [np.sqrt(ot.emd2_1d(x[:, d], y[:, d], metric="sqeuclidean")) for d in range(5)]
    np.testing.assert_allclose(got2, exp2, rtol=1e-8)


def test_bhattacharyya(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    mx, my, vx, vy = x.mean(0), y.mean(0), x.var(0, ddof=1), y.var(0, ddof=1)
    expected = 0.25 * (mx - my) ** 2 / (vx + vy) + 0.5 * np.log((vx + vy) / (2 * np.sqrt(vx * vy)))
    np.testing.assert_allclose(dist.bhattacharyya_per_dimension(x, y, eps=0.0), expected, rtol=1e-10)
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    s = (sx + sy) / 2
    d = mx - my
    mv = d @ np.linalg.inv(s) @ d / 8 + 0.5 * np.log(np.linalg.det(s) / np.sqrt(np.linalg.det(sx) * np.linalg.det(sy)))
    assert dist.bhattacharyya_gaussian(x, y, eps=0.0) == pytest.approx(mv, rel=1e-8)
    assert dist.bhattacharyya_gaussian(x, x) == pytest.approx(0.0, abs=1e-12)
    assert dist.bhattacharyya_gaussian(x + 3.0, y + 3.0, eps=0.0) == pytest.approx(mv, rel=1e-8)
    dead = np.c_[x, np.zeros(60)]
    assert np.isfinite(dist.bhattacharyya_gaussian(dead, np.c_[y[:45], np.zeros(45)]))


def test_mmd_rbf_matches_direct_formula(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    pooled = np.concatenate([x, y])
    pd = np.sqrt(((pooled[:, None] - pooled[None]) ** 2).sum(-1))
    sigma = np.median(pd[np.triu_indices(len(pooled), 1)])
    assert dist.median_bandwidth(x, y) == pytest.approx(sigma)

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * sigma**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    unbiased = (kxx.sum() - n) / (n * (n - 1)) + (kyy.sum() - m) / (m * (m - 1)) - 2 * kxy.mean()
    assert dist.mmd_rbf(x, y) == pytest.approx(unbiased, rel=1e-7)
    assert dist.mmd_rbf(x, y, unbiased=False) == pytest.approx(kxx.mean() + kyy.mean() - 2 * kxy.mean(), rel=1e-7)
    assert dist.mmd_rbf(x, y, bandwidth=2.0) != dist.mmd_rbf(x, y)


def test_shape_errors() -> None:
    with pytest.raises(SpecError, match="same D"):
        dist.gaussian_wasserstein(np.zeros((3, 2)), np.zeros((3, 3)))
