"""Distances between two feature sets ``x [N, D]`` and ``y [M, D]`` (latent-space shift measures).

All functions take numpy arrays (rows are samples) and return floats (per-dimension ones: ``[D]`` arrays). Random
choices (projections, subsamples) come from ``np.random.default_rng(seed)``. BLAS is pinned to ``threads`` threads
around the heavy linear algebra. POT is imported only inside :func:`exact_wasserstein` (it takes seconds to import).

References
----------
Stenger A et al. (shared/papers/batchnorm-adaptation-fibsem-segmentation): Wasserstein, sliced Wasserstein and
Bhattacharyya distances between latent distributions, taken before the ReLU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dabench.errors import SpecError

DEFAULT_THREADS = 2


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise SpecError(f"feature sets must be [N, D] and [M, D] with the same D; got {x.shape} and {y.shape}.")
    if x.shape[0] < 1 or y.shape[0] < 1:
        raise SpecError("feature sets must not be empty.")
    return x, y


def _blas(threads: int) -> Any:
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    centred = x - mean
    return mean, centred.T @ centred / max(x.shape[0] - 1, 1)


def _congruence(sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """A symmetric matrix with the eigenvalues of ``S_x S_y``: ``L^T S_y L`` (Cholesky ``S_x = L L^T``), or
    ``S_x^1/2 S_y S_x^1/2`` (eigendecomposition) when ``S_x`` is singular."""
    try:
        chol = np.linalg.cholesky(sx)
        return chol.T @ sy @ chol
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(sx)
        root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
        return root @ sy @ root


def gaussian_wasserstein(
    x: np.ndarray, y: np.ndarray, *, squared: bool = False, threads: int = DEFAULT_THREADS
) -> float:
    """2-Wasserstein (Fréchet / Bures) distance between Gaussians fitted to ``x`` and ``y`` (unbiased covariances).

    ``W2^2 = |mu_x - mu_y|^2 + tr(S_x + S_y - 2 (S_x^1/2 S_y S_x^1/2)^1/2)``; the trace of the inner square root
    is the sum of square roots of the eigenvalues of ``S_x S_y``, taken from one symmetric eigenvalue problem.

    References
    ----------
    Dowson DC, Landau BV. The Fréchet distance between multivariate normal distributions. J Multivar Anal, 1982.
    """
    x, y = _pair(x, y)
    with _blas(threads):
        mx, sx = _moments(x)
        my, sy = _moments(y)
        inner = np.linalg.eigvalsh(_congruence(sx, sy))
        cross = np.sum(np.sqrt(np.clip(inner, 0, None)))
        w2 = float(np.sum((mx - my) ** 2) + np.trace(sx) + np.trace(sy) - 2.0 * cross)
    w2 = max(w2, 0.0)
    return w2 if squared else float(np.sqrt(w2))


def random_projections(dim: int, n_projections: int, seed: int) -> np.ndarray:
    """Unit directions ``[D, P]`` drawn uniformly on the sphere (normalised Gaussians), seeded."""
    p = np.random.default_rng(seed).standard_normal((dim, n_projections))
    return p / np.linalg.norm(p, axis=0, keepdims=True)


def _quantile_merge(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices into sorted ``x`` (n) and ``y`` (m) and the mass of each piece of the merged quantile grid."""
    grid = np.union1d(np.arange(1, n) / n, np.arange(1, m) / m)
    cuts = np.concatenate([[0.0], grid, [1.0]])
    mid = (cuts[:-1] + cuts[1:]) / 2
    ix = np.minimum((mid * n).astype(np.int64), n - 1)
    iy = np.minimum((mid * m).astype(np.int64), m - 1)
    return ix, iy, np.diff(cuts)


def _wasserstein_1d_sorted(xs: np.ndarray, ys: np.ndarray, p: float) -> np.ndarray:
    """``W_p^p`` between uniform empirical distributions along the last axis of sorted ``xs [K, n]``, ``ys [K, m]``."""
    n, m = xs.shape[-1], ys.shape[-1]
    if n == m:
        return np.mean(np.abs(xs - ys) ** p, axis=-1)
    ix, iy, mass = _quantile_merge(n, m)
    return (np.abs(xs[..., ix] - ys[..., iy]) ** p) @ mass


def sliced_wasserstein(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_projections: int = 1000,
    p: int = 2,
    seed: int = 0,
    projections: np.ndarray | None = None,
    threads: int = DEFAULT_THREADS,
) -> float:
    """Sliced p-Wasserstein distance ``(mean_theta W_p^p(theta^T x, theta^T y))^(1/p)`` over random directions.

    Equal to ``ot.sliced_wasserstein_distance(x, y, projections=...)`` for the same directions (uniform weights).

    References
    ----------
    Bonneel N, Rabin J, Peyré G, Pfister H. Sliced and Radon Wasserstein barycenters of measures. JMIV, 2015.
    """
    x, y = _pair(x, y)
    proj = random_projections(x.shape[1], n_projections, seed) if projections is None else np.asarray(projections)
    total = 0.0
    block = max(1, (1 << 22) // (x.shape[0] + y.shape[0]))
    with _blas(threads):
        for start in range(0, proj.shape[1], block):
            theta = proj[:, start : start + block]
            xs = np.sort((x @ theta).T, axis=1)
            ys = np.sort((y @ theta).T, axis=1)
            total += float(np.sum(_wasserstein_1d_sorted(xs, ys, p)))
    return float((total / proj.shape[1]) ** (1.0 / p))


def wasserstein_per_dimension(x: np.ndarray, y: np.ndarray, *, p: int = 1) -> np.ndarray:
    """1-D p-Wasserstein distance of every dimension ``[D]`` (``p=1`` equals ``scipy.stats.wasserstein_distance``)."""
    x, y = _pair(x, y)
    wpp = _wasserstein_1d_sorted(np.sort(x.T, axis=1), np.sort(y.T, axis=1), p)
    return np.asarray(wpp ** (1.0 / p))


def exact_wasserstein(x: np.ndarray, y: np.ndarray, *, max_samples: int = 2000, p: int = 2, seed: int = 0) -> float:
    """Exact p-Wasserstein distance between the empirical distributions (POT ``emd2``), on seeded subsamples.

    Each set is subsampled without replacement to at most ``max_samples`` rows (the network simplex is roughly
    cubic in the sample size); the ground cost is the Euclidean distance to the power ``p``.

    References
    ----------
    Flamary R et al. POT: Python Optimal Transport. JMLR 22(78), 2021.
    """
    import ot

    x, y = _pair(x, y)
    rng = np.random.default_rng(seed)
    if x.shape[0] > max_samples:
        x = x[np.sort(rng.choice(x.shape[0], max_samples, replace=False))]
    if y.shape[0] > max_samples:
        y = y[np.sort(rng.choice(y.shape[0], max_samples, replace=False))]
    cost = ot.dist(x, y, metric="euclidean") ** p
    a, b = np.full(x.shape[0], 1.0 / x.shape[0]), np.full(y.shape[0], 1.0 / y.shape[0])
    return float(ot.emd2(a, b, cost, numItermax=10_000_000) ** (1.0 / p))


def bhattacharyya_per_dimension(x: np.ndarray, y: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Bhattacharyya distance of 1-D Gaussians fitted to every dimension ``[D]``.

    ``D_B = (mu_x - mu_y)^2 / (4 (s_x^2 + s_y^2)) + ln((s_x^2 + s_y^2) / (2 s_x s_y)) / 2``; ``eps`` is added to
    every variance so that constant dimensions (dead ReLU units) stay finite.

    References
    ----------
    Bhattacharyya A. On a measure of divergence between two statistical populations. Bull Calcutta Math Soc, 1943.
    """
    x, y = _pair(x, y)
    vx = x.var(axis=0, ddof=1 if x.shape[0] > 1 else 0) + eps
    vy = y.var(axis=0, ddof=1 if y.shape[0] > 1 else 0) + eps
    total = vx + vy
    return (x.mean(0) - y.mean(0)) ** 2 / (4 * total) + 0.5 * np.log(total / (2 * np.sqrt(vx * vy)))


def bhattacharyya_gaussian(x: np.ndarray, y: np.ndarray, *, eps: float = 1e-6, threads: int = DEFAULT_THREADS) -> float:
    """Bhattacharyya distance between multivariate Gaussians fitted to ``x`` and ``y``.

    ``D_B = (mu_x - mu_y)^T S^-1 (mu_x - mu_y) / 8 + ln(det S / sqrt(det S_x det S_y)) / 2`` with
    ``S = (S_x + S_y) / 2``; ``eps * I`` is added to each covariance (ridge) so that rank-deficient covariances
    (fewer samples than dimensions, dead units) stay invertible.
    """
    x, y = _pair(x, y)
    with _blas(threads):
        mx, sx = _moments(x)
        my, sy = _moments(y)
        ridge = eps * np.eye(x.shape[1])
        sx, sy = sx + ridge, sy + ridge
        s = (sx + sy) / 2
        diff = mx - my
        quad = float(diff @ np.linalg.solve(s, diff))
        logdet = np.linalg.slogdet(s)[1] - 0.5 * (np.linalg.slogdet(sx)[1] + np.linalg.slogdet(sy)[1])
    return quad / 8.0 + 0.5 * float(logdet)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.clip((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0, None)


def median_bandwidth(x: np.ndarray, y: np.ndarray, *, max_samples: int = 1000, seed: int = 0) -> float:
    """Median heuristic: the median pairwise Euclidean distance of the pooled sample (seeded subsample)."""
    pooled = np.concatenate([x, y])
    if pooled.shape[0] > max_samples:
        pooled = pooled[np.random.default_rng(seed).choice(pooled.shape[0], max_samples, replace=False)]
    d = _sq_dists(pooled, pooled)[np.triu_indices(pooled.shape[0], k=1)]
    med = float(np.sqrt(np.median(d))) if d.size else 1.0
    return med if med > 0 else 1.0


def _kernel_sum(a: np.ndarray, b: np.ndarray, gamma: float) -> float:
    total = 0.0
    block = max(1, (1 << 22) // max(b.shape[0], 1))
    for start in range(0, a.shape[0], block):
        total += float(np.exp(-gamma * _sq_dists(a[start : start + block], b)).sum())
    return total


def mmd_rbf(
    x: np.ndarray,
    y: np.ndarray,
    *,
    bandwidth: float | None = None,
    unbiased: bool = True,
    seed: int = 0,
    threads: int = DEFAULT_THREADS,
) -> float:
    """Squared maximum mean discrepancy with the RBF kernel ``exp(-|a - b|^2 / (2 sigma^2))``.

    ``sigma`` defaults to the median heuristic (:func:`median_bandwidth`). ``unbiased`` gives the U-statistic
    (diagonal terms left out; can be slightly negative), otherwise the V-statistic. Memory is O(block * M).

    References
    ----------
    Gretton A, Borgwardt KM, Rasch MJ, Schölkopf B, Smola A. A kernel two-sample test. JMLR 13, 2012 (eq. 3-5;
    median heuristic, sec. 8).
    """
    x, y = _pair(x, y)
    n, m = x.shape[0], y.shape[0]
    with _blas(threads):
        sigma = median_bandwidth(x, y, seed=seed) if bandwidth is None else bandwidth
        gamma = 1.0 / (2.0 * sigma**2)
        kxx, kyy, kxy = _kernel_sum(x, x, gamma), _kernel_sum(y, y, gamma), _kernel_sum(x, y, gamma)
    if unbiased:
        if n < 2 or m < 2:
            raise SpecError("the unbiased MMD needs at least two samples in each set.")
        return (kxx - n) / (n * (n - 1)) + (kyy - m) / (m * (m - 1)) - 2.0 * kxy / (n * m)
    return kxx / n**2 + kyy / m**2 - 2.0 * kxy / (n * m)
