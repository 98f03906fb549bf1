"""Ranks that respect uncertainty: rows whose difference from the best row is not significant share rank 1.

Rows are ordered by their score (the primary metric on the ranked domain, or the mean over a test grid) in the
metric's direction. The best row is compared with every other row on what both share, at 95%:

* two or more shared seeds: a paired t-interval of the per-seed differences (Student t, ``n - 1`` df);
* one shared seed: a paired percentile bootstrap — the difference of the two records' replicate vectors
  (``metrics[domain][metric]["paired"]``, drawn on the per-sample stream, so replicate ``b`` of both runs is the same
  resample of the same test set; grid tables use the per-replicate grid mean). The test sets must match: same
  dataset, target and shift, the same size on every ranked domain and the same number of replicates;
* otherwise the pair is *not tested* (no shared seed, test sets that differ, records without paired replicates).

A difference is significant when its interval excludes 0. Rows not significantly different from the best share
rank 1 and come first; the others follow in score order with competition ranks (``1, 1, 3``); rows without a score
(only failed runs) are unranked ("–") at the bottom. Everything is a pure function of the rows: ties in score are
broken by label, DA data and configuration, so the order is stable.

References
----------
Efron B, Tibshirani RJ. *An Introduction to the Bootstrap*. Chapman & Hall, 1993 (ch. 16: two-sample and paired
comparisons on the same bootstrap samples).
Demšar J. Statistical comparisons of classifiers over multiple data sets. *JMLR* 7, 2006 (paired tests of
classifiers evaluated on the same data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dabench.report.leaderboard_rows import PROVIDER_FIELDS, Row

LEVEL = 0.95
UNRANKED = "–"
NO_REPLICATES = "no paired replicates"
"""Why a one-seed pair is not tested when a record predates the stored paired replicates."""


@dataclass(frozen=True)
class Comparison:
    """A row against the best row: ``diff`` = row - best on what they share, with its ``LEVEL`` interval.

    ``test`` is ``"t"`` (paired t over ``n`` seeds), ``"bootstrap"`` (paired bootstrap, ``n`` replicates),
    ``"best"`` (the best row itself) or ``"not tested"`` (``reason`` says why).
    """

    test: str
    diff: float = math.nan
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    reason: str = ""

    @property
    def tested(self) -> bool:
        return self.test in ("t", "bootstrap")

    @property
    def significant(self) -> bool:
        return self.tested and not (self.low <= 0.0 <= self.high)


@dataclass(frozen=True)
class Ranked:
    """A row in table order with its rank text (``"1"``, ``"3"`` or ``"–"``) and its comparison with the best."""

    row: Row
    rank: str
    comparison: Comparison | None


def record_score(record: Mapping[str, Any], metric: str, domains: Sequence[str]) -> float:
    """Mean of the record's ``metric`` values over ``domains`` (NaN when one is missing or undefined)."""
    values = []
    for domain in domains:
        estimate = record.get("metrics", {}).get(domain, {}).get(metric)
        value = None if estimate is None else estimate.get("value")
        if value is None or not math.isfinite(float(value)):
            return math.nan
        values.append(float(value))
    return sum(values) / len(values) if values else math.nan


def record_replicates(record: Mapping[str, Any], metric: str, domains: Sequence[str]) -> np.ndarray | None:
    """Per-replicate mean over ``domains`` of the record's paired replicates (NaN where undefined), or None when a
    domain has none or their lengths differ."""
    vectors = []
    for domain in domains:
        paired = record.get("metrics", {}).get(domain, {}).get(metric, {}).get("paired")
        if not isinstance(paired, list) or not paired or not all(_number_or_null(v) for v in paired):
            return None
        vectors.append(np.array([math.nan if v is None else float(v) for v in paired], dtype=np.float64))
    if not vectors or len({v.size for v in vectors}) > 1:
        return None
    return np.mean(np.stack(vectors), axis=0)


def _number_or_null(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _strip(value: Any, both: bool) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip(v, both) for k, v in value.items() if both or k not in PROVIDER_FIELDS}
    if isinstance(value, list):
        return [_strip(v, both) for v in value]
    return value


def mismatched_test_sets(a: Mapping[str, Any], b: Mapping[str, Any], domains: Sequence[str]) -> str:
    """Why two records' test sets cannot be paired ("" when they match): seed, data, shift and sizes.

    Providers (plugin, code) are compared when both records name them (schema 2)."""
    sa, sb = a["spec"], b["spec"]
    if sa.get("seed") != sb.get("seed"):
        return "different seeds"
    both = min(sa.get("schema", 1), sb.get("schema", 1)) >= 2
    for part in ("protocol", "dataset", "target", "shift", "test_intensities"):
        if _strip(sa.get(part), both) != _strip(sb.get(part), both):
            return f"different test {part}"
    for domain in domains:
        size_a, size_b = a.get("sizes", {}).get(f"test_{domain}"), b.get("sizes", {}).get(f"test_{domain}")
        if size_a is None or size_a != size_b:
            return "test-set sizes differ or are unknown"
    return ""


def _t_interval(diffs: np.ndarray) -> tuple[float, float, float]:
    from scipy import stats

    mean = float(np.mean(diffs))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, diffs.size - 1)) * float(np.std(diffs, ddof=1)) / math.sqrt(diffs.size)
    return mean, mean - half, mean + half


def compare(best: Row, other: Row, metric: str, domains: Sequence[str]) -> Comparison:
    """``other`` against ``best`` on their shared seeds (module docstring)."""
    mine = {r["spec"]["seed"]: r for r in best.records}
    theirs = {r["spec"]["seed"]: r for r in other.records}
    shared = []
    for seed in sorted(set(mine) & set(theirs)):
        pair = (record_score(mine[seed], metric, domains), record_score(theirs[seed], metric, domains))
        if all(math.isfinite(v) for v in pair):
            shared.append((seed, *pair))
    if not shared:
        return Comparison("not tested", reason="no seed in common")
    if len(shared) >= 2:
        diffs = np.array([o - b for _, b, o in shared])
        mean, low, high = _t_interval(diffs)
        return Comparison("t", mean, low, high, len(shared))
    seed, base, own = shared[0]
    mismatch = mismatched_test_sets(mine[seed], theirs[seed], domains)
    if mismatch:
        return Comparison("not tested", reason=mismatch)
    reps_best, reps_other = (
        record_replicates(mine[seed], metric, domains),
        record_replicates(theirs[seed], metric, domains),
    )
    if reps_best is None or reps_other is None:
        return Comparison("not tested", reason=NO_REPLICATES)
    if reps_best.size != reps_other.size:
        return Comparison("not tested", reason="different numbers of replicates")
    diffs = reps_other - reps_best
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0:
        return Comparison("not tested", reason="no defined replicate")
    alpha = (1.0 - LEVEL) / 2
    low, high = (float(q) for q in np.quantile(diffs, [alpha, 1.0 - alpha]))
    return Comparison("bootstrap", own - base, low, high, int(diffs.size))


def _tie(comparison: Comparison) -> bool:
    return comparison.tested and not comparison.significant


def row_score(row: Row, metric: str, domains: Sequence[str]) -> float:
    """The row's score: the mean over ``domains`` of its seed-mean of ``metric`` (NaN without values)."""
    cells = [row.cell(d, metric) for d in domains]
    values = [c[0] for c in cells if c is not None]
    return sum(values) / len(values) if values else math.nan


def rank_rows(rows: Sequence[Row], metric: str, domains: Sequence[str], higher_is_better: bool) -> list[Ranked]:
    """``rows`` in table order with ranks and comparisons (module docstring)."""
    sign = 1.0 if higher_is_better else -1.0
    scores = {id(row): row_score(row, metric, domains) for row in rows}

    def tie_break(row: Row) -> tuple[str, str, str]:
        return (row.label or row.method, row.adaptation, row.config)

    scored = sorted(
        (r for r in rows if math.isfinite(scores[id(r)])), key=lambda r: (-sign * scores[id(r)], *tie_break(r))
    )
    unscored = sorted((r for r in rows if not math.isfinite(scores[id(r)])), key=tie_break)
    if not scored:
        return [Ranked(row, UNRANKED, None) for row in unscored]
    best = scored[0]
    comparisons = {id(row): compare(best, row, metric, domains) for row in scored[1:]}
    comparisons[id(best)] = Comparison("best", 0.0, 0.0, 0.0)
    tied = {id(r) for r in scored if comparisons[id(r)].test == "best" or _tie(comparisons[id(r)])}
    top = [r for r in scored if id(r) in tied]
    rest = [r for r in scored if id(r) not in tied]
    out = [Ranked(row, "1", comparisons[id(row)]) for row in top]
    for position, row in enumerate(rest, start=len(top) + 1):
        same = out[-1] if out and out[-1].rank != "1" and scores[id(out[-1].row)] == scores[id(row)] else None
        out.append(Ranked(row, same.rank if same else str(position), comparisons[id(row)]))
    return out + [Ranked(row, UNRANKED, None) for row in unscored]
