"""Ranks that respect uncertainty: ties share rank 1, a clearly better row is alone, one seed uses the paired
bootstrap over the same test resamples, unpairable test sets are "not tested"."""

from __future__ import annotations

import numpy as np
import pytest

from dabench.builtins.metrics import METRICS
from dabench.report import leaderboard
from dabench.report.leaderboard_rows import build_settings
from dabench.report.ranking import compare, rank_rows
from dabench.stats.bootstrap import bootstrap

ACCURACY = next(m for m in METRICS if m.name == "accuracy")


def record(method: str, seed: int, domains: dict[str, dict], *, protocol: str = "uda", **spec: object) -> dict:
    """An ok record; ``domains`` maps a domain to its accuracy estimate dict (``Estimate.as_dict()``)."""
    return {
        "key": f"{method}-{seed}",
        "status": "ok",
        "spec": {
            "protocol": protocol,
            "method": {"name": method, "version": "1"},
            "dataset": {"name": "digits", "version": "1"},
            "target": None,
            "shift": [{"name": "noise", "version": "1", "intensity": 0.8}],
            "metrics": [{"name": "accuracy", "version": "1"}],
            "params": {"epochs": 3},
            "seed": seed,
            **spec,
        },
        "metrics": {d: {"accuracy": e} for d, e in domains.items()},
        "sizes": {f"test_{d}": int(e.get("n", 100)) for d, e in domains.items()},
        "timings": {"fit_s": 1.0},
    }


def point(value: float, spread: float = 0.02) -> dict:
    return {"value": value, "low": value - spread, "high": value + spread, "n_boot": 100, "interval": "percentile"}


def ranks(records: list[dict], higher: bool = True) -> dict[str, str]:
    (setting,) = build_settings(records)
    domains = sorted({d for r in records for d in r["metrics"]}, key=leaderboard.domain_order)
    on = domains if len(domains) > 4 else domains[:1]
    return {e.row.method: e.rank for e in rank_rows(setting.rows, "accuracy", on, higher)}


def test_ties_share_rank_one_and_competition_ranking_follows() -> None:
    noisy = [0.70, 0.76, 0.73]  # overlapping seeds: a and b are not distinguishable
    records = [record("a", s, {"target": point(v + 0.01)}) for s, v in enumerate(noisy)]
    records += [record("b", s, {"target": point(v + (0.03 if s == 1 else -0.01))}) for s, v in enumerate(noisy)]
    records += [record("c", s, {"target": point(v - 0.3)}) for s, v in enumerate(noisy)]
    assert ranks(records) == {"a": "1", "b": "1", "c": "3"}


def test_a_clearly_better_method_is_alone_at_rank_one() -> None:
    records = [record("good", s, {"target": point(0.9 + s / 1000)}) for s in range(3)]
    records += [record("fair", s, {"target": point(0.8 + s / 500)}) for s in range(3)]
    records += [record("poor", s, {"target": point(0.5 - s / 700)}) for s in range(3)]
    assert ranks(records) == {"good": "1", "fair": "2", "poor": "3"}
    assert ranks(records, higher=False) == {"poor": "1", "fair": "2", "good": "3"}


def _paired_estimate(correct: np.ndarray, seed: int) -> dict:
    """Accuracy with paired replicates of predictions that are right exactly where ``correct`` is."""
    n = correct.size
    y = np.arange(n) % 10
    scores = np.full((n, 10), 0.01)
    scores[np.arange(n), np.where(correct, y, (y + 1) % 10)] = 0.91
    return bootstrap(ACCURACY, y, scores, n_boot=400, seed=seed, paired=True).as_dict() | {"n": n}


def test_one_seed_paired_bootstrap_detects_a_small_consistent_difference() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(2000) < 0.8
    better = base.copy()
    better[np.flatnonzero(~base)[:30]] = True  # right on 30 more samples (1.5 points), never worse
    a, b = _paired_estimate(base, seed=7), _paired_estimate(better, seed=7)
    assert a["high"] > b["low"]  # the unpaired intervals overlap...
    records = [record("base", 0, {"target": a}), record("better", 0, {"target": b})]
    assert ranks(records) == {"better": "1", "base": "2"}  # ...the paired bootstrap still separates them
    (setting,) = build_settings(records)
    best, other = sorted(setting.rows, key=lambda r: r.method != "better")
    comparison = compare(best, other, "accuracy", ["target"])
    assert comparison.test == "bootstrap" and comparison.high < 0 < -comparison.low
    assert comparison.diff == pytest.approx(-0.015)
    text = leaderboard.render(records, directions={"accuracy": True}, citations={}, command="dabench leaderboard")
    assert "(bootstrap)" in text and "paired percentile bootstrap" in text
    tie = [record("base", 0, {"target": a}), record("same", 0, {"target": _paired_estimate(base, seed=7)})]
    assert ranks(tie) == {"base": "1", "same": "1"}


def test_unpairable_test_sets_are_not_tested_and_the_header_says_so() -> None:
    rng = np.random.default_rng(1)
    correct = rng.random(500) < 0.7
    a, b = _paired_estimate(correct, seed=3), _paired_estimate(rng.random(400) < 0.5, seed=3)
    records = [record("a", 0, {"target": a}), record("b", 0, {"target": b})]
    text = leaderboard.render(records, directions={"accuracy": True}, citations={}, command="dabench leaderboard")
    assert ranks(records) == {"a": "1", "b": "2"}
    assert "not tested: test-set sizes differ or are unknown" in text and "Not tested against the best row" in text
    no_shared = [record("a", 0, {"target": point(0.7)}), record("b", 1, {"target": point(0.69)})]
    assert ranks(no_shared) == {"a": "1", "b": "2"}
    old = [record("a", 0, {"target": point(0.7)}), record("b", 0, {"target": point(0.69)})]  # no replicates
    assert "re-run them with --force" in leaderboard.render(
        old, directions={"accuracy": True}, citations={}, command="dabench leaderboard"
    )


def test_grid_tables_rank_by_grid_mean_and_pair_per_replicate() -> None:
    rng = np.random.default_rng(2)
    grid = [f"test@{i / 10:g}" for i in range(6)]
    truth = {d: rng.random(1000) < 0.9 - k / 10 for k, d in enumerate(grid)}
    lifted = {d: c | (rng.random(1000) < 0.02) for d, c in truth.items()}  # a little better on every domain
    spec = {"protocol": "dann4", "test_intensities": [i / 10 for i in range(6)]}
    a = record("a", 0, {d: _paired_estimate(c, seed=k) for k, (d, c) in enumerate(truth.items())}, **spec)
    b = record("b", 0, {d: _paired_estimate(c, seed=k) for k, (d, c) in enumerate(lifted.items())}, **spec)
    assert ranks([a, b]) == {"b": "1", "a": "2"}
    text = leaderboard.render([a, b], directions={"accuracy": True}, citations={}, command="dabench leaderboard")
    assert "grid mean accuracy" in text and "(bootstrap)" in text
