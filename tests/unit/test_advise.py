"""``dabench advise``'s decision rule and predictor choice (pure functions of validated results)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dabench.cli.advise import Validated, choose, maximal, recommendation


@pytest.mark.parametrize(
    ("interval", "beats", "expected"),
    [
        ((0.02, 0.10), True, "adapt with adabn"),
        ((-0.05, 0.01), True, "no benefit expected"),
        ((-0.02, 0.05), True, "uncertain"),
        ((0.02, 0.10), False, "uncertain"),  # a predictor that did not beat always/never adapting is not trusted
        (None, True, "uncertain"),
    ],
)
def test_recommendation_follows_the_interval_and_epsilon(
    interval: tuple[float, float] | None, beats: bool, expected: str
) -> None:
    assert recommendation("adabn", interval, 0.01, beats) == expected


def _validated(name: str, regret: float, rho: float | None) -> Validated:
    result = SimpleNamespace(name=name, regret_pp=regret, spearman=rho)
    return Validated(Path("e.json"), "leave_one_shift_family_out", ("s",), result, {})


def test_choose_takes_the_lowest_mean_regret_then_the_higher_rho() -> None:
    found = [_validated("a", 1.0, 0.9), _validated("a", 3.0, 0.9), _validated("b", 1.5, 0.1), _validated("c", 1.5, 0.8)]
    name, rows = choose(found)
    assert name == "c" and len(rows) == 1  # a: mean 2.0; b and c tie at 1.5, c has the higher rho
    assert choose(found[:2])[0] == "a" and len(choose(found[:2])[1]) == 2


def test_a_pooled_evaluation_replaces_the_per_store_ones_it_contains() -> None:
    def v(name: str, regret: float, stores: tuple[str, ...], scheme: str = "leave_one_shift_family_out") -> Validated:
        return Validated(Path("e.json"), scheme, stores, SimpleNamespace(name=name, regret_pp=regret, spearman=0.5), {})

    found = [
        v("a", 0.0, ("s1",)),
        v("a", 5.0, ("s1", "s2")),
        v("b", 1.0, ("s1", "s2")),
        v("a", 0.0, ("s3",), "external"),
    ]
    kept = maximal(found)
    assert [(r.result.name, r.stores) for r in kept] == [("a", ("s1", "s2")), ("b", ("s1", "s2")), ("a", ("s3",))]
    assert choose(found)[0] == "b"  # a: mean(5.0, 0.0) = 2.5 once the contained per-store row is dropped
