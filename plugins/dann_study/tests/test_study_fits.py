"""The paper's fits (sigmoid degradation, gaussian × quadratic gain) recover known parameters, and a fit that
cannot be made is flagged, never raised."""

from __future__ import annotations

import math

import pytest
from study_records import DEG, GAIN, HALF, REF, records

from dabench_dann_study.decomposition import Decomposition, decompose
from dabench_dann_study.fits import fit_all, fit_degradation, fit_gain
from dabench_dann_study.records import da_intensity_of


@pytest.fixture(scope="module")
def decomposition() -> Decomposition:
    (d,) = decompose(records())
    return d


def test_fits_recover_the_known_parameters(decomposition: Decomposition) -> None:
    deg = fit_degradation(decomposition)
    assert deg.converged and deg.r2 > 0.995 and deg.rmse < 0.02
    assert deg.params["d_max"] == pytest.approx(DEG["d_max"], rel=0.05)
    assert deg.params["k"] == pytest.approx(DEG["k"], rel=0.15)
    assert deg.params["i0"] == pytest.approx(DEG["i0"], abs=0.03)
    assert all(0 < s < 1 for s in deg.stderr.values())
    gain = fit_gain(decomposition)
    assert gain.converged and gain.r2 > 0.97, gain
    assert gain.params["mu"] == pytest.approx(GAIN["mu"], abs=0.03)
    assert gain.params["sigma"] == pytest.approx(GAIN["sigma"], abs=0.03)
    for name in ("a", "b", "c"):
        assert gain.params[name] == pytest.approx(GAIN[name], abs=0.06)
    assert gain.extra["max_gain_test_intensity"] == pytest.approx(0.9, abs=0.11)
    assert [sorted(f) for f in fit_all([decomposition])] == [["degradation", "gain"]]


def test_non_convergence_is_flagged_not_raised(decomposition: Decomposition) -> None:
    stuck = fit_degradation(decomposition, maxfev=1)
    assert not stuck.converged and stuck.message and math.isnan(stuck.params["d_max"])
    flat_records = records(n_seeds=2, noise=0.0)
    for r in flat_records:  # no degradation and no gain at all: the sigmoid is not identifiable
        for domain in r["metrics"].values():
            domain["accuracy"].update(value=REF, low=REF - HALF, high=REF + HALF)
    (flat,) = decompose(flat_records)
    assert not fit_degradation(flat).converged
    assert not fit_gain(flat).converged
    few = [r for r in records(n_seeds=2) if da_intensity_of(r) in (0.0, 0.4)]
    result = fit_gain(decompose(few)[0])
    assert not result.converged and "3 distinct" in result.message
