"""Seeded, stratified splits of a labelled set (e.g. the 7:1:2 split used for PBC, Acevedo et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dabench.errors import SpecError


def stratified_split(labels: np.ndarray, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """Index arrays, one per fraction, with each class divided in the same proportions.

    Fractions must sum to 1. Within each class the order is a seeded permutation; parts are returned sorted.
    """
    shares = np.asarray(fractions, dtype=float)
    if shares.ndim != 1 or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise SpecError(f"split fractions {shares.tolist()} must be non-negative and sum to 1.")
    labels = np.asarray(labels)
    parts: list[list[np.ndarray]] = [[] for _ in shares]
    cumulative = np.cumsum(shares)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        cuts = np.round(cumulative[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts), strict=True):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=int) for p in parts]
