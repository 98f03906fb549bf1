"""The key-claim test: gain nearly invariant to DA intensity, most of it at the lowest DA intensity."""

from __future__ import annotations

import math

import pytest
from study_records import DA_J, TEST_I, record, records

from dabench_dann_study.claims import MIN_DA_VALUES, key_claim
from dabench_dann_study.decomposition import decompose


def _study(gain_of_j: dict[float, float], n_seeds: int = 3, noise: float = 0.003) -> list[dict]:
    """source_only constant 0.9 at test 0, 0.3 at test 1; DANN gains ``gain_of_j[j]`` at test 1."""
    import numpy as np

    rng = np.random.default_rng(7)
    out = []
    for seed in range(n_seeds):
        out.append(record("source_only", seed, {0.0: 0.9, 1.0: 0.3 + rng.normal(0, noise)}))
        for j, g in gain_of_j.items():
            out.append(record("dann", seed, {0.0: 0.9, 1.0: 0.3 + g + rng.normal(0, noise)}, da_j=j))
    return out


def test_a_grid_of_fewer_than_four_values_cannot_be_tested() -> None:
    (d,) = decompose(records(da_j=[0.0, 0.5, 1.0]))
    claim = key_claim(d)
    assert claim.status == "cannot be tested" and "3 value(s)" in claim.reason and str(MIN_DA_VALUES) in claim.reason
    assert math.isnan(claim.slope) and claim.depends_on_da is None


def test_a_flat_gain_confirms_the_claim() -> None:
    (d,) = decompose(_study(dict.fromkeys(DA_J, 0.4)))
    claim = key_claim(d)
    assert claim.status == "confirmed", claim
    assert claim.lowest_da == 0.2 and claim.share_at_lowest == pytest.approx(1.0, abs=0.05)
    assert claim.slope_low < 0 < claim.slope_high and not claim.depends_on_da
    assert "3 seeds" in claim.slope_basis and claim.peak_test_intensity == 1.0


def test_a_gain_growing_with_da_intensity_does_not() -> None:
    (d,) = decompose(_study({j: 0.5 * j for j in DA_J}))
    claim = key_claim(d)
    assert claim.status == "not confirmed"
    assert claim.depends_on_da and claim.slope == pytest.approx(0.5, abs=0.03)
    assert claim.share_at_lowest == pytest.approx(0.2, abs=0.02) and not claim.most_at_lowest
    assert claim.change_share == pytest.approx(1.0, abs=0.06)  # the whole gain moves across the grid


def test_one_seed_uses_the_slope_over_the_grid() -> None:
    (d,) = decompose(_study({j: 0.5 * j for j in DA_J}, n_seeds=1))
    claim = key_claim(d)
    assert "one seed" in claim.slope_basis and claim.depends_on_da


def test_no_positive_gain_cannot_be_tested() -> None:
    (d,) = decompose(_study(dict.fromkeys(DA_J, -0.1)))
    assert key_claim(d).reason == "no positive gain to share out"


def test_the_paper_shaped_gain_is_tested() -> None:
    (d,) = decompose(records())
    claim = key_claim(d)
    assert claim.status in ("confirmed", "not confirmed") and claim.peak_test_intensity in TEST_I
