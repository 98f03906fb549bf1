"""A metric over seeds, and the paired gain of adaptation, each with a 95% interval and the basis it rests on.

Intervals, in order of preference:

- ``replicates``: every seed's record carries paired bootstrap replicates (``Estimate.paired``, drawn on the
  per-sample stream: replicate ``b`` of the unadapted and the adapted record of one seed is the same resample of the
  same test images); the seed mean is taken per replicate and the interval is its percentile interval. For the gain
  the per-seed replicate differences are averaged. It covers the test images' sampling, not the spread of
  trainings across seeds (the table shows that spread separately, as the seeds' standard deviation);
- ``seeds``: two or more seeds without replicates: Student t across the seeds' values (for the gain: across the
  per-seed differences, paired by seed);
- ``run``: one seed without replicates: the run's own interval (for the gain: the two half-widths added in
  quadrature, ``quadrature``, which assumes independent estimates);
- ``none``: no interval could be formed.

Intervals are clipped to what the quantity can take (a metric's bounds; a gain's ``±(high − low)``).

References
----------
Efron B, Tibshirani RJ. *An Introduction to the Bootstrap*. Chapman & Hall, 1993 (percentile intervals: ch. 13;
comparing two statistics on the same bootstrap samples: ch. 16).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
BASES = {
    "replicates": "paired bootstrap replicates (test images), seed mean per replicate",
    "seeds": "Student t across seeds",
    "run": "the one run's bootstrap interval",
    "quadrature": "one seed: the two runs' half-widths in quadrature",
    "none": "no interval",
}
"""What each ``Summary.basis`` means (printed under the tables)."""

Est = Mapping[str, Any]


@dataclass(frozen=True)
class Summary:
    """A seed mean with its ``LEVEL`` interval, the seeds' standard deviation (NaN with one seed), the number of
    seeds and the interval's basis (a key of :data:`BASES`)."""

    value: float
    low: float
    high: float
    sd: float
    n: int
    basis: str

    def excludes_zero(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high) and (self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "sd": self.sd, "n": self.n,
                "basis": self.basis}  # fmt: skip


EMPTY = Summary(math.nan, math.nan, math.nan, math.nan, 0, "none")


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


def _replicates(est: Est) -> np.ndarray | None:
    paired = est.get("paired")
    if not isinstance(paired, list) or not paired:
        return None
    return np.array([_f(v) for v in paired], dtype=np.float64)


def _stack(vectors: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """``[seeds, B]`` replicates when every seed has them with one length, else None."""
    if not vectors or any(v is None for v in vectors) or len({v.size for v in vectors if v is not None}) != 1:
        return None
    return np.stack([v for v in vectors if v is not None])


def percentile(reps: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN, NaN without any)."""
    finite = reps[np.isfinite(reps)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def t_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (two or more)."""
    from scipy import stats

    mean = float(np.mean(values))
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1)) * float(np.std(values, ddof=1)) / math.sqrt(values.size)
    return mean - half, mean + half


def _clip(value: float, low: float, high: float, sd: float, n: int, basis: str, bounds: tuple[float, float]) -> Summary:
    lo, hi = bounds
    return Summary(value, min(max(low, lo), hi), min(max(high, lo), hi), sd, n, basis)


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size >= 2 else math.nan


def summarise(estimates: Sequence[Est], bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """The seed mean of one metric (one estimate dict per seed; null values are left out)."""
    kept = [e for e in estimates if math.isfinite(_f(e.get("value")))]
    if not kept:
        return EMPTY
    values = np.array([_f(e["value"]) for e in kept])
    mean, sd, n = float(values.mean()), _sd(values), values.size
    reps = _stack([_replicates(e) for e in kept])
    if reps is not None and reps.shape[1] > 0:
        return _clip(mean, *percentile(reps.mean(axis=0)), sd, n, "replicates", bounds)
    if n >= 2:
        return _clip(mean, *t_interval(values), sd, n, "seeds", bounds)
    low, high = _f(kept[0].get("low")), _f(kept[0].get("high"))
    basis = "run" if math.isfinite(low) and math.isfinite(high) and kept[0].get("interval") != "none" else "none"
    return _clip(mean, low, high, sd, n, basis, bounds)


def summarise_gain(pairs: Sequence[tuple[Est, Est]], bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """The seed mean of ``adapted − unadapted``, paired per seed (``pairs`` = (unadapted, adapted) estimates of one
    seed each); ``bounds`` are the metric's, the gain's are ``±(high − low)``."""
    kept = [(u, a) for u, a in pairs if math.isfinite(_f(u.get("value"))) and math.isfinite(_f(a.get("value")))]
    if not kept:
        return EMPTY
    span = bounds[1] - bounds[0]
    gain_bounds = (-span, span)
    diffs = np.array([_f(a["value"]) - _f(u["value"]) for u, a in kept])
    mean, sd, n = float(diffs.mean()), _sd(diffs), diffs.size
    unadapted, adapted = _stack([_replicates(u) for u, _ in kept]), _stack([_replicates(a) for _, a in kept])
    if unadapted is not None and adapted is not None and unadapted.shape == adapted.shape and unadapted.shape[1]:
        return _clip(mean, *percentile((adapted - unadapted).mean(axis=0)), sd, n, "replicates", gain_bounds)
    if n >= 2:
        return _clip(mean, *t_interval(diffs), sd, n, "seeds", gain_bounds)
    (u, a) = kept[0]
    halves = [(_f(e.get("high")) - _f(e.get("low"))) / 2.0 for e in (u, a)]
    if not all(math.isfinite(h) for h in halves) or "none" in (u.get("interval"), a.get("interval")):
        return Summary(mean, math.nan, math.nan, sd, n, "none")
    half = math.hypot(*halves)
    return _clip(mean, mean - half, mean + half, sd, n, "quadrature", gain_bounds)
