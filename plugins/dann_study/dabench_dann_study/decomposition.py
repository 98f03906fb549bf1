"""The DANN paper's regression model: accuracy = reference − degradation − cost + gain, from stored run records,
with the net benefit over the raw CNN and, where a control was run, the gain over the control.

One training (a method at one DA intensity ``j``, one seed) is evaluated on every test-shift intensity ``i``.
Writing ``so(i)`` for the raw CNN (``source_only``), ``da_j(i)`` for the DA model trained at DA intensity ``j``,
``i0`` for "no test shift" (the smallest intensity evaluated: 0 for noise, kernel 1 for blur) and ``ctl_j(i)`` for
the control (DANN with its adversarial term off, same DA data):

- reference ``= so(i0)``;
- degradation ``(i) = so(i0) − so(i)``, the drop due to the test shift;
- cost ``(j) = so(i0) − da_j(i0)``, the drop due to DA training without test shift;
- gain ``(i, j) = da_j(i) − (reference − degradation(i) − cost(j)) = [da_j(i) − da_j(i0)] − [so(i) − so(i0)]``;
- net benefit ``(i, j) = da_j(i) − so(i)``: what using the DA model instead of the raw CNN changes at that test
  shift (a gain can be "significant" while the model is worse than the raw CNN everywhere: a collapsed model);
- gain over control ``(i, j) = gain(i, j) − gain_ctl(i, j)``: the part of the gain the adversarial term adds.

Every term is a linear combination of per-training scores, computed from the seed means of those scores, so the
identity holds for the means up to floating-point rounding. Intervals (95%): Student-t across the seeds that have
every score a term needs when there are at least two such seeds (paired, so seed-to-seed variation shared between
the scores cancels); otherwise the half-widths of the scores (the records' bootstrap half-widths for a single seed,
Student-t across a score's own seeds when it has several) are added in quadrature, *assuming the scores are
independent*. Every interval is clipped to the range the term can take given the metric's bounds (a score in
[0, 1] has a reference in [0, 1] and a degradation in [−1, 1]). Significance is computed: an interval that
excludes 0.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt): "Regression
model" (section III-E) and Fig. 4 (the four pipeline configurations).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dabench import SpecError
from dabench.stats.fitting import t_half_width
from dabench_dann_study.records import (
    ADVERSARIAL_PARAMS,
    BASELINE,
    Group,
    GroupKey,
    Training,
    gather,
    shift_family,
)

Term = tuple[Any, float]  # (training: "so", a DA intensity or ("ctl", DA intensity); test intensity)
UNBOUNDED = (-math.inf, math.inf)
SIGNIFICANCE_TOLERANCE = 1e-9
"""An interval bound within this share of the metric's range of 0 counts as 0 (floating-point noise)."""


@dataclass(frozen=True)
class Band:
    """A point estimate with its 95% interval; arrays of any shape (0-d for a scalar)."""

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray


def significant(band: Band, bounds: tuple[float, float] = UNBOUNDED) -> np.ndarray:
    """Whether each interval excludes 0 (NaN intervals are not significant)."""
    span = bounds[1] - bounds[0]
    tol = SIGNIFICANCE_TOLERANCE * (span if math.isfinite(span) else 1.0)
    low, high = np.asarray(band.low, dtype=float), np.asarray(band.high, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.asarray((low > tol) | (high < -tol))


@dataclass(frozen=True)
class Decomposition:
    """The terms of the paper's regression model for one DA group, averaged over seeds.

    ``accuracy`` is the DA model's score ``[n_test, n_da]`` and ``baseline`` the raw CNN's ``[n_test]``; both in
    units of ``metric`` (named after the paper's accuracy, whatever the metric is). ``collapsed[a, b]`` counts the
    seeds whose DA model collapsed on test intensity ``a`` (of ``collapse_known[a, b]`` seeds with the flag);
    ``baseline_collapsed`` likewise for the raw CNN. ``seed_gain`` is the gain of each seed (for tests across seeds).
    ``control`` marks the control group itself; ``control_label`` names the control matched to this group, and
    ``gain_over_control`` is None without one.
    """

    method: str
    variant: str
    control: bool
    dataset: str
    da_dataset: str
    da_shift: str
    test_shift: str
    metric: str
    bounds: tuple[float, float]
    test_intensities: np.ndarray
    da_intensities: np.ndarray
    reference: Band
    degradation: Band
    cost: Band
    gain: Band
    accuracy: Band
    baseline: Band
    net_benefit: Band
    collapsed: np.ndarray
    collapse_known: np.ndarray
    baseline_collapsed: np.ndarray
    baseline_collapse_known: np.ndarray
    n_seeds: int
    n_seeds_reference: int
    seed_gain: dict[int, np.ndarray] = field(default_factory=dict)
    control_label: str = ""
    gain_over_control: Band | None = None

    @property
    def method_label(self) -> str:
        """``dann``, ``dann (lambda_max=0)``, with ``[control]`` for the control."""
        text = f"{self.method} ({self.variant})" if self.variant else self.method
        return f"{text} [control: adversarial term off]" if self.control else text

    @property
    def label(self) -> str:
        return (
            f"{self.method_label} on {self.dataset}, DA {self.da_dataset} ({self.da_shift}), test shift "
            f"{self.test_shift}"
        )

    def max_gain(self) -> tuple[float, float, float]:
        """(gain, test intensity, DA intensity) of the largest observed mean gain (paper: 0.50 at test 1.1, DA 0.5)."""
        gain = np.asarray(self.gain.value, dtype=float)
        if not np.isfinite(gain).any():
            return math.nan, math.nan, math.nan
        i, j = np.unravel_index(int(np.nanargmax(gain)), gain.shape)
        return float(gain[i, j]), float(self.test_intensities[i]), float(self.da_intensities[j])


# ------------------------------------------------------------------------------------------------ statistics


def term_bounds(terms: Mapping[Term, float], bounds: tuple[float, float]) -> tuple[float, float]:
    """The range of ``sum(coef * score)`` when every score lies in ``bounds``."""
    lo, hi = bounds
    low = sum(c * (lo if c > 0 else hi) for c in terms.values())
    high = sum(c * (hi if c > 0 else lo) for c in terms.values())
    return float(low), float(high)


def _clip(x: float, lo: float, hi: float) -> float:
    return x if not math.isfinite(x) else min(max(x, lo), hi)


def combine(
    trainings: Mapping[Any, Mapping[int, Mapping[float, tuple[float, float]]]],
    terms: Mapping[Term, float],
    bounds: tuple[float, float] = UNBOUNDED,
) -> tuple[float, float, float]:
    """Mean and 95% interval (clipped to the term's range) of ``sum(coef * score)`` (see the module docstring)."""
    terms = {t: c for t, c in terms.items() if c != 0}
    if not terms:
        return 0.0, 0.0, 0.0
    mean, half_sq = 0.0, 0.0
    for (training, i), coef in terms.items():
        pts = [s[i] for s in trainings[training].values() if i in s and math.isfinite(s[i][0])]
        if not pts:
            return math.nan, math.nan, math.nan
        values = np.array([p[0] for p in pts])
        mean += coef * float(values.mean())
        half = t_half_width(values) if values.size >= 2 else float(np.mean([p[1] for p in pts]))
        half_sq += (coef * half) ** 2
    seeds = set.intersection(*(set(trainings[t]) for t, _ in terms))
    per_seed = [sum(c * trainings[t][s].get(i, (math.nan, 0.0))[0] for (t, i), c in terms.items()) for s in seeds]
    paired = np.array([v for v in per_seed if math.isfinite(v)])
    half = t_half_width(paired) if paired.size >= 2 else math.sqrt(half_sq)
    lo, hi = term_bounds(terms, bounds)
    return mean, _clip(mean - half, lo, hi), _clip(mean + half, lo, hi)


def terms(*pairs: tuple[Term, float]) -> dict[Term, float]:
    """Sum the coefficients of repeated terms (``so(0) - so(i)`` is zero at ``i = 0``)."""
    out: dict[Term, float] = defaultdict(float)
    for term, coef in pairs:
        out[term] += coef
    return dict(out)


def _band(cells: Iterable[tuple[float, float, float]], shape: tuple[int, ...]) -> Band:
    arr = np.array(list(cells), dtype=float).reshape((*shape, 3))
    return Band(arr[..., 0], arr[..., 1], arr[..., 2])


# ------------------------------------------------------------------------------------------------- grouping


def _reference_intensity(base: Training) -> float:
    return min(i for s in base.scores.values() for i in s)


def _merge_undone(groups: dict[GroupKey, Group], i0: Mapping[tuple[str, str], float]) -> dict[GroupKey, Group]:
    """A DA run without a DA shift (C and D identical in distribution) belongs to every DA-shift group of the same
    method configuration, dataset, DA dataset and test shift; it stays on its own only when it has no such group.
    On a group's DA axis it sits at the shift's "no shift" point: the setting's no-test-shift intensity ``i0`` when
    the DA shift is the test shift's family (kernel 1 for blur, 0 for noise), else 0."""
    merged = dict(groups)
    for key, group in groups.items():
        if key.da_shift != "none":
            continue
        siblings = [
            k
            for k in groups
            if (k.method, k.variant, k.dataset, k.da_dataset, k.test_shift)
            == (key.method, key.variant, key.dataset, key.da_dataset, key.test_shift)
            and k != key
        ]
        for sibling in siblings:
            same_family = shift_family(sibling.da_shift) == shift_family(sibling.test_shift)
            at = i0.get((key.dataset, key.test_shift), 0.0) if same_family else 0.0
            own = groups[sibling].by_da
            undone = {} if at in own else {at: group.by_da[min(group.by_da)]}  # one training: DA intensity 0
            target = merged[sibling]
            merged[sibling] = Group(target.key, target.control, target.config, {**undone, **own})
        if siblings:
            del merged[key]
    return merged


def _control_for(group: Group, groups: Mapping[GroupKey, Group]) -> Group | None:
    """The control group of a non-control group: same method, data and shifts, configuration equal but for the
    adversarial parameters."""
    if group.control:
        return None

    def rest(config: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k not in ADVERSARIAL_PARAMS}

    key = group.key
    for other in sorted(groups.values(), key=lambda g: g.key):
        k = other.key
        same = (k.method, k.dataset, k.da_dataset, k.da_shift, k.test_shift) == (
            key.method,
            key.dataset,
            key.da_dataset,
            key.da_shift,
            key.test_shift,
        )
        if other.control and same and rest(other.config) == rest(group.config):
            return other
    return None


# --------------------------------------------------------------------------------------------- decomposition


def decompose(
    records: Iterable[Mapping[str, Any]], *, metric: str = "accuracy", bounds: tuple[float, float] = UNBOUNDED
) -> list[Decomposition]:
    """Reference, degradation, cost, gain, net benefit (and gain over a control) for every DA group, sorted by group.

    Completed ``dann4`` records are grouped by method configuration, dataset, DA dataset, DA shift and test shift,
    and by DA intensity; ``source_only`` records of the same dataset and test shift give the reference and the
    degradation. ``bounds`` are the metric's (intervals are clipped to what each term can take).

    Raises
    ------
    SpecError
        When a DA group has no ``source_only`` result for its dataset and test shift.
    """
    groups, baselines = gather(records, metric)
    i0 = {setting: _reference_intensity(base) for setting, base in baselines.items() if base.has_scores()}
    groups = _merge_undone(groups, i0)
    out = []
    for key in sorted(groups):
        base = baselines.get((key.dataset, key.test_shift))
        if base is None or not base.has_scores():
            raise SpecError(
                f"no completed {BASELINE!r} run for dataset {key.dataset!r} with test shift {key.test_shift!r}, "
                f"which the decomposition of {key.method!r} (DA {key.da_dataset!r}) needs as its reference (the "
                f"paper's raw CNN). Add method {BASELINE!r} to the sweep and run it."
            )
        control = _control_for(groups[key], groups)
        out.append(_decompose_group(groups[key], base, control, metric, bounds, i0[(key.dataset, key.test_shift)]))
    return out


def _decompose_group(
    group: Group, so: Training, control: Group | None, metric: str, bounds: tuple[float, float], i0: float
) -> Decomposition:
    by_da = group.by_da
    js = sorted(by_da)
    trainings: dict[Any, Any] = {"so": so.scores, **{j: by_da[j].scores for j in js}}
    i_values = sorted({i for j in js for s in by_da[j].scores.values() for i in s} | {i0})
    shape_i, shape_ij = (len(i_values),), (len(i_values), len(js))

    def band(cells: Iterable[dict[Term, float]], shape: tuple[int, ...]) -> Band:
        return _band((combine(trainings, t, bounds) for t in cells), shape)

    def gain_terms(i: float, j: Any) -> dict[Term, float]:  # accuracy - (reference - degradation - cost)
        return terms(((j, i), 1.0), ((j, i0), -1.0), (("so", i), -1.0), (("so", i0), 1.0))

    accuracy = band((terms(((j, i), 1.0)) for i in i_values for j in js), shape_ij)
    gain = band((gain_terms(i, j) for i in i_values for j in js), shape_ij)
    gain_over_control = None
    if control is not None:
        trainings.update({("ctl", j): t.scores for j, t in control.by_da.items()})
        cells = [  # gain - gain of the control: the raw CNN's terms cancel
            terms(*gain_terms(i, j).items(), *((k, -c) for k, c in gain_terms(i, ("ctl", j)).items()))
            if ("ctl", j) in trainings
            else None
            for i in i_values
            for j in js
        ]
        gain_over_control = _band(
            ((math.nan,) * 3 if t is None else combine(trainings, t, bounds) for t in cells), shape_ij
        )
    collapsed = np.array([[by_da[j].collapse_count(i) for j in js] for i in i_values], dtype=int).reshape(
        (*shape_ij, 2)
    )
    baseline_collapsed = np.array([so.collapse_count(i) for i in i_values], dtype=int).reshape((*shape_i, 2))
    key = group.key
    return Decomposition(
        method=key.method,
        variant=key.variant,
        control=group.control,
        dataset=key.dataset,
        da_dataset=key.da_dataset,
        da_shift=key.da_shift,
        test_shift=key.test_shift,
        metric=metric,
        bounds=bounds,
        test_intensities=np.array(i_values),
        da_intensities=np.array(js, dtype=float),
        reference=band([terms((("so", i0), 1.0))], ()),
        degradation=band((terms((("so", i0), 1.0), (("so", i), -1.0)) for i in i_values), shape_i),
        cost=band((terms((("so", i0), 1.0), ((j, i0), -1.0)) for j in js), (len(js),)),
        gain=gain,
        accuracy=accuracy,
        baseline=band((terms((("so", i), 1.0)) for i in i_values), shape_i),
        net_benefit=band((terms(((j, i), 1.0), (("so", i), -1.0)) for i in i_values for j in js), shape_ij),
        collapsed=collapsed[..., 0],
        collapse_known=collapsed[..., 1],
        baseline_collapsed=baseline_collapsed[..., 0],
        baseline_collapse_known=baseline_collapsed[..., 1],
        n_seeds=min(len(by_da[j].scores) for j in js),
        n_seeds_reference=len(so.scores),
        seed_gain=_seed_gains(so, by_da, js, i_values, i0),
        control_label=_label(control) if control is not None else "",
        gain_over_control=gain_over_control,
    )


def _label(group: Group) -> str:
    k = group.key
    text = f"{k.method} ({k.variant})" if k.variant else k.method
    return f"{text} on {k.dataset}, DA {k.da_dataset} ({k.da_shift}), test shift {k.test_shift}"


def _seed_gains(
    so: Training, by_da: Mapping[float, Training], js: list[float], i_values: list[float], i0: float
) -> dict[int, np.ndarray]:
    """seed -> that seed's gain ``[n_test, n_da]`` (NaN where a score is missing), for seeds the raw CNN has."""
    out: dict[int, np.ndarray] = {}
    seeds = sorted(set(so.scores) & set().union(*(set(by_da[j].scores) for j in js)))
    for seed in seeds:
        base = so.scores[seed]
        gain = np.full((len(i_values), len(js)), math.nan)
        for b, j in enumerate(js):
            own = by_da[j].scores.get(seed)
            if own is None or i0 not in own or i0 not in base:
                continue
            for a, i in enumerate(i_values):
                if i in own and i in base:
                    gain[a, b] = own[i][0] - own[i0][0] - base[i][0] + base[i0][0]
        out[seed] = gain
    return out
