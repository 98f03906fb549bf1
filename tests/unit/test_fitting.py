"""dabench.stats.fitting: least squares with standard errors (flagged, never raised), Student-t intervals, slopes
and the fit-parameter scales of a JSON document."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dabench.stats.fitting import fit_curve, fit_parameter_scales, line_fit, t_half_width, t_interval, t_quantile


def _exp(x: np.ndarray, a: float, k: float) -> np.ndarray:
    return a * np.exp(-k * x)


def test_fit_curve_recovers_parameters_with_standard_errors() -> None:
    rng = np.random.default_rng(0)
    x = np.linspace(0, 3, 40)
    y = _exp(x, 2.0, 1.5) + rng.normal(0, 0.01, x.size)
    fit = fit_curve(_exp, x, y, (1.0, 1.0), model="exp", formula="a exp(-k x)", names=("a", "k"))
    assert fit.converged and fit.message == "" and fit.n_points == 40
    assert fit.params["a"] == pytest.approx(2.0, abs=0.02) and fit.params["k"] == pytest.approx(1.5, abs=0.03)
    assert 0 < fit.stderr["a"] < 0.02 and fit.r2 > 0.999 and fit.rmse == pytest.approx(0.01, abs=0.003)


@pytest.mark.parametrize(
    ("x", "y", "p0", "message"),
    [
        (np.array([0.0, 1.0]), np.array([1.0, 0.5]), (1.0, 1.0), "2 finite points for 2 parameters"),
        (np.linspace(0, 1, 5), np.ones(5), (1.0, 1.0), "not identifiable"),
        (np.linspace(0, 1, 5), np.linspace(1, 0, 5), (math.nan, 1.0), "no finite starting point"),
    ],
)
def test_a_fit_that_cannot_be_made_is_flagged(x: np.ndarray, y: np.ndarray, p0: tuple, message: str) -> None:
    fit = fit_curve(_exp, x, y, p0, model="exp", formula="f", names=("a", "k"))
    assert not fit.converged and message in fit.message
    assert math.isnan(fit.params["a"]) and math.isnan(fit.r2)


def test_t_interval_matches_scipy() -> None:
    values = np.array([0.2, 0.35, 0.3, 0.5])
    mean, low, high = t_interval(values)
    expected = stats.t.interval(0.95, 3, loc=values.mean(), scale=stats.sem(values))
    assert (low, high) == pytest.approx(expected) and mean == pytest.approx(values.mean())
    assert t_half_width(values) == pytest.approx((high - low) / 2)
    assert t_quantile(10) == pytest.approx(stats.t.ppf(0.975, 10))
    one = t_interval([0.4, math.nan])
    assert one[0] == 0.4 and math.isnan(one[1]) and math.isnan(one[2])
    assert all(math.isnan(v) for v in t_interval([]))


def test_line_fit_slope_and_interval() -> None:
    x = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    y = 0.3 + 0.5 * x + np.array([0.01, -0.01, 0.0, 0.01, -0.01, 0.0])
    fit = line_fit(x, y)
    ref = stats.linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope) and fit.slope_stderr == pytest.approx(ref.stderr)
    assert fit.dof == 4 and fit.intercept == pytest.approx(ref.intercept)
    low, high = fit.slope_interval()
    assert low < 0.5 < high and high - low == pytest.approx(2 * stats.t.ppf(0.975, 4) * ref.stderr)
    assert math.isnan(line_fit([1.0, 1.0, 1.0], [0.0, 1.0, 2.0]).slope)  # constant x: no slope
    two = line_fit([0.0, 1.0], [0.0, 2.0])
    assert two.slope == 2.0 and all(math.isnan(v) for v in two.slope_interval())


def test_fit_parameter_scales_are_the_finite_standard_errors() -> None:
    fit = {"params": {"a": 0.7, "c": 0.006}, "stderr": {"a": 0.25, "c": None}}
    data = {"decompositions": [{"fits": {"gain": fit}}, {"fits": {}}], "other": [fit]}
    assert fit_parameter_scales(data) == {
        ("decompositions", 0, "fits", "gain", "params", "a"): 0.25,
        ("other", 0, "params", "a"): 0.25,
    }
