"""records -> rows -> markdown: aggregation over seeds, intervals, sorting by direction, escaping, determinism."""

from __future__ import annotations

import math

import pytest

from dabench import leaderboard


def record(
    method: str,
    seed: int,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    domain: str = "target",
    protocol: str = "uda",
    params: dict | None = None,
) -> dict:
    estimate = {
        "value": value,
        "low": value - 0.01 if low is None else low,
        "high": value + 0.01 if high is None else high,
        "n_boot": 100,
        "interval": "percentile",
    }
    return {
        "key": f"{method}-{seed}-{value}",
        "status": "ok",
        "spec": {
            "protocol": protocol,
            "method": {"name": method, "version": "1"},
            "dataset": {"name": "digits", "version": "1"},
            "target": None,
            "shift": [{"name": "noise", "version": "1", "intensity": 0.8}],
            "metrics": [{"name": "err", "version": "1"}],
            "params": params or {"epochs": 3},
            "seed": seed,
        },
        "metrics": {domain: {"err": estimate}, "source": {"err": dict(estimate, value=0.05)}},
        "timings": {"fit_s": 1.0},
        "provenance": {"device": "cpu", "dabench": "0.1.0"},
    }


def render(records: list[dict], higher: bool = True) -> str:
    return leaderboard.render(
        records,
        directions={"err": higher},
        citations={"a|b": "X (2020)"},
        bounds={"err": (0.0, 1.0)},
        command="dabench leaderboard --store s",
    )


def test_seeds_aggregate_with_t_interval_and_bounds() -> None:
    rows = leaderboard.group_rows([record("m", 0, 0.5), record("m", 1, 0.7), record("m", 2, 0.9)])
    (row,) = next(iter(rows.values()))
    mean, low, _ = row.cell("target", "err")
    half = 4.3027 * 0.2 / math.sqrt(3)  # t(0.975, df=2) · sd / sqrt(n)
    assert mean == pytest.approx(0.7) and low == pytest.approx(0.7 - half, rel=1e-3)
    assert row.cell("target", "err", (0.0, 0.8))[2] == 0.8  # clipped to the metric's range
    single = next(iter(leaderboard.group_rows([record("m", 0, 0.5, low=0.4, high=0.55)]).values()))[0]
    assert single.cell("target", "err") == (0.5, 0.4, 0.55)  # one seed: the run's bootstrap interval


def test_sorting_follows_direction_and_failed_records_are_skipped() -> None:
    records = [record("good", 0, 0.1), record("bad", 0, 0.9), dict(record("broken", 0, 0.5), status="failed")]
    lower_better = render(records, higher=False)
    assert lower_better.index("| good") < lower_better.index("| bad") and "broken" not in lower_better
    higher_better = render(records, higher=True)
    assert higher_better.index("| bad") < higher_better.index("| good")


def test_escaping_and_determinism() -> None:
    records = [record("a|b", 0, 0.3), record("c", 0, 0.4)]
    text = render(records)
    assert "a\\|b" in text and "X (2020)" in text
    assert render(list(reversed(records))) == text
    assert "Regenerate with: `dabench leaderboard --store s`" in text


def test_params_that_differ_are_shown() -> None:
    text = render([record("m", 0, 0.3, params={"lr": 0.1}), record("m", 0, 0.4, params={"lr": 0.01})])
    assert "| params" in text and "lr=0.1" in text and "lr=0.01" in text


def test_empty_store() -> None:
    assert "No completed runs" in render([])
