"""The paper's key claim, tested on the records: "gain depends heavily on the data shift intensity but is almost
invariant to DA intensity, suggesting that most of the DA benefits can be reached at very low DA intensity".

Per DA group (one DA dataset), at the test intensity ``i*`` of the largest mean gain:

- **share at the lowest DA intensity**: the largest mean gain over test intensities at the lowest DA intensity
  that shifts anything (above the DA axis' "no shift" point), divided by the largest mean gain overall;
- **dependence on DA intensity**: the least-squares slope of the gain at ``i*`` against DA intensity, one slope per
  seed with a Student-t interval across seeds (one seed: the least-squares slope of the mean gain with its own
  t interval over the DA grid); the gain *depends* on DA intensity when that interval excludes 0. The change across
  the whole DA grid (slope × grid width) is also given as a share of the largest gain.

The claim is **confirmed** when the share is at least :data:`MOST` and no dependence is detected, **not
confirmed** otherwise, and **cannot be tested** with fewer than :data:`MIN_DA_VALUES` DA intensities (a slope over
three points, two of them the ends, cannot tell "flat" from "peaked"), or without a positive gain.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), section IV-A
(p. 3) and the Discussion (p. 5): "when DA is efficient, a low intensity in DA shift is sufficient to provide
most of the possible gain from DA".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dabench.stats.fitting import line_fit, t_interval
from dabench_dann_study.decomposition import Decomposition
from dabench_dann_study.records import shift_family

MIN_DA_VALUES = 4
MOST = 0.5
"""The share of the largest gain that "most of the DA benefits" means."""


@dataclass(frozen=True)
class KeyClaim:
    """The outcome of the key-claim test for one DA group (see the module docstring)."""

    status: str
    """``confirmed``, ``not confirmed`` or ``cannot be tested``."""
    reason: str
    da_intensities: tuple[float, ...]
    lowest_da: float = math.nan
    peak_test_intensity: float = math.nan
    max_gain: float = math.nan
    gain_at_lowest: float = math.nan
    share_at_lowest: float = math.nan
    slope: float = math.nan
    slope_low: float = math.nan
    slope_high: float = math.nan
    slope_basis: str = ""
    change_share: float = math.nan
    change_share_low: float = math.nan
    change_share_high: float = math.nan
    depends_on_da: bool | None = None
    most_at_lowest: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def no_shift_point(d: Decomposition) -> float:
    """Where "no DA shift" sits on the group's DA axis: the no-test-shift intensity when the DA shift is the test
    shift's family (kernel 1 for blur), else 0."""
    same = shift_family(d.da_shift) == shift_family(d.test_shift)
    return float(d.test_intensities[0]) if same and d.test_intensities.size else 0.0


def key_claim(d: Decomposition) -> KeyClaim:
    """Test the key claim on one decomposition (see the module docstring)."""
    js = tuple(float(j) for j in d.da_intensities)
    if len(js) < MIN_DA_VALUES:
        return KeyClaim(
            "cannot be tested",
            f"the DA grid has {len(js)} value(s) ({', '.join(f'{j:g}' for j in js)}); the test needs at least "
            f"{MIN_DA_VALUES}",
            js,
        )
    best, at_i, _ = d.max_gain()
    if not math.isfinite(best) or best <= 0:
        return KeyClaim("cannot be tested", "no positive gain to share out", js, max_gain=best)
    origin = no_shift_point(d)
    shifting = [b for b, j in enumerate(js) if j > origin]
    if not shifting:
        return KeyClaim("cannot be tested", "no DA intensity above the no-shift point", js, max_gain=best)
    low_col = shifting[0]
    gain = np.asarray(d.gain.value, dtype=float)
    at_lowest = float(np.nanmax(gain[:, low_col])) if np.isfinite(gain[:, low_col]).any() else math.nan
    row = int(np.flatnonzero(np.isclose(d.test_intensities, at_i))[0])
    slope, low, high, basis = _slope(d, row)
    width = max(js) - min(js)
    depends = bool(low > 0 or high < 0) if math.isfinite(low) and math.isfinite(high) else None
    share = at_lowest / best
    most = bool(share >= MOST) if math.isfinite(share) else None
    if depends is None or most is None:
        status, reason = "cannot be tested", "the slope's interval is undefined (too few finite gains)"
    elif most and not depends:
        status, reason = "confirmed", f"share at the lowest DA intensity >= {MOST:g} and no detectable dependence"
    else:
        parts = [] if most else [f"share at the lowest DA intensity < {MOST:g}"]
        parts += ["the gain depends on DA intensity (slope interval excludes 0)"] if depends else []
        status, reason = "not confirmed", "; ".join(parts)
    return KeyClaim(
        status,
        reason,
        js,
        lowest_da=js[low_col],
        peak_test_intensity=at_i,
        max_gain=best,
        gain_at_lowest=at_lowest,
        share_at_lowest=share,
        slope=slope,
        slope_low=low,
        slope_high=high,
        slope_basis=basis,
        change_share=slope * width / best,
        change_share_low=low * width / best,
        change_share_high=high * width / best,
        depends_on_da=depends,
        most_at_lowest=most,
    )


def _slope(d: Decomposition, row: int) -> tuple[float, float, float, str]:
    """(slope, low, high, basis) of the gain at test-intensity index ``row`` against DA intensity."""
    js = np.asarray(d.da_intensities, dtype=float)
    slopes = []
    for gain in d.seed_gain.values():
        values = gain[row]
        if int(np.isfinite(values).sum()) >= 3:
            slopes.append(line_fit(js, values).slope)
    finite = [s for s in slopes if math.isfinite(s)]
    if len(finite) >= 2:
        mean, low, high = t_interval(finite)
        return mean, low, high, f"Student-t across {len(finite)} seeds"
    fit = line_fit(js, np.asarray(d.gain.value, dtype=float)[row])
    low, high = fit.slope_interval()
    return fit.slope, low, high, f"least squares over the {fit.dof + 2} DA intensities (one seed)"
