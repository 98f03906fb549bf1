"""The DANN paper's decomposition (reference − degradation − cost + gain), fits and reports, on synthetic records."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from dabench.analysis import (
    Decomposition,
    accuracy_curves,
    da_intensity_of,
    decompose,
    fit_all,
    fit_degradation,
    fit_gain,
    gaussian_quadratic,
    sigmoid,
)
from dabench.analysis_report import to_json, to_markdown
from dabench.errors import SpecError

TEST_I = [round(0.1 * k, 1) for k in range(13)]  # 0 .. 1.2, as in the paper's noise experiments
DA_J = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
REF = 0.98
DEG = {"d_max": 0.78, "k": 9.0, "i0": 0.75}
GAIN = {"mu": 0.9, "sigma": 0.2, "a": -0.4, "b": 0.4, "c": 0.35}
HALF = 0.003  # bootstrap half-width of every synthetic estimate


def _record(method: str, seed: int, scores: Mapping[float, float | None], da_j: float | None = None, **kw: Any) -> dict:
    spec = {
        "protocol": "dann4",
        "method": {"name": method, "version": "1"},
        "dataset": {"name": kw.get("dataset", "mnist"), "version": "1"},
        "target": None,
        "da_dataset": None if da_j is None else {"name": kw.get("da_dataset", "fashion_mnist"), "version": "1"},
        "da_shift": [] if da_j is None else [{"name": "noise", "version": "1", "intensity": da_j}],
        "shift": [{"name": "noise", "version": "1", "intensity": 0.0}],
        "test_intensities": sorted(scores),
        "params": {},
        "seed": seed,
        "metrics": [{"name": "accuracy"}],
    }
    metrics = {
        f"test@{i:g}": {
            "accuracy": {
                "value": v,
                "low": None if v is None else v - HALF,
                "high": None if v is None else v + HALF,
                "n_boot": 1000,
                "interval": "percentile",
            }
        }
        for i, v in scores.items()
    }
    key = f"{method}-{da_j}-{seed}-{kw.get('da_dataset', '')}"
    return {"key": key, "status": kw.get("status", "ok"), "spec": spec, "metrics": metrics, "timings": {}}


def _true_degradation(i: float) -> float:
    return float(sigmoid(np.array(i), **DEG) - sigmoid(np.array(0.0), **DEG))


def _true_gain(i: float, j: float) -> float:
    return float(gaussian_quadratic(np.array([[i], [j]]), **GAIN)[0])


def _records(n_seeds: int = 3, noise: float = 0.004, rng_seed: int = 0, **kw: Any) -> list[dict]:
    rng = np.random.default_rng(rng_seed)
    out = []
    for seed in range(n_seeds):
        out.append(_record("source_only", seed, {i: REF - _true_degradation(i) + rng.normal(0, noise) for i in TEST_I}))
        for j in DA_J:
            scores = {
                i: REF - _true_degradation(i) - 0.01 * j + _true_gain(i, j) - _true_gain(0.0, j) + rng.normal(0, noise)
                for i in TEST_I
            }
            out.append(_record("dann", seed, scores, da_j=j, **kw))
    return out


@pytest.fixture(scope="module")
def decomposition() -> Decomposition:
    (d,) = decompose(_records())
    return d


def test_identity_holds_in_every_cell(decomposition: Decomposition) -> None:
    d = decomposition
    assert d.n_seeds == 3 and d.n_seeds_reference == 3
    assert (d.method, d.dataset, d.da_dataset, d.da_shift, d.test_shift) == (
        "dann",
        "mnist",
        "fashion_mnist",
        "noise",
        "noise",
    )
    assert d.gain.value.shape == (len(TEST_I), len(DA_J))
    rebuilt = d.reference.value - d.degradation.value[:, None] - d.cost.value[None, :] + d.gain.value
    np.testing.assert_allclose(rebuilt, d.accuracy.value, rtol=0, atol=1e-12)
    assert d.degradation.value[0] == 0.0 and np.all(d.gain.value[0] == 0.0)  # no test shift: nothing to explain
    np.testing.assert_allclose(d.baseline.value, d.reference.value - d.degradation.value, atol=1e-12)


def test_terms_match_the_generating_model(decomposition: Decomposition) -> None:
    d = decomposition
    assert float(d.reference.value) == pytest.approx(REF, abs=0.01)
    np.testing.assert_allclose(d.cost.value, 0.01 * np.array(DA_J), atol=0.01)
    truth = np.array([[_true_gain(i, j) - _true_gain(0, j) for j in DA_J] for i in TEST_I])
    np.testing.assert_allclose(d.gain.value, truth, atol=0.02)
    best, at_i, at_j = d.max_gain()
    assert best == pytest.approx(truth.max(), abs=0.02) and at_i == pytest.approx(GAIN["mu"], abs=0.11)
    assert at_j in (0.4, 0.6)  # the quadratic peaks at 0.5


def test_intervals_contain_the_mean_and_shrink_with_more_seeds(decomposition: Decomposition) -> None:
    for band in (decomposition.degradation, decomposition.cost, decomposition.gain, decomposition.accuracy):
        assert np.all(band.low <= band.value) and np.all(band.value <= band.high)
    (many,) = decompose(_records(n_seeds=12))
    width = decomposition.gain.high - decomposition.gain.low
    many_width = many.gain.high - many.gain.low
    assert np.mean(many_width[1:]) < 0.6 * np.mean(width[1:])


def test_single_seed_uses_bootstrap_half_widths_in_quadrature() -> None:
    (d,) = decompose(_records(n_seeds=1))
    assert d.n_seeds == 1
    np.testing.assert_allclose(d.accuracy.high - d.accuracy.value, HALF, atol=1e-12)
    np.testing.assert_allclose((d.degradation.high - d.degradation.value)[1:], HALF * math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(d.cost.high - d.cost.value, HALF * math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose((d.gain.high - d.gain.value)[1:], 2 * HALF, atol=1e-12)  # four independent terms
    assert np.all(d.gain.high[0] == d.gain.low[0])  # gain(0, j) is 0 by definition, with no uncertainty


def test_failed_and_null_records_are_handled() -> None:
    records = _records(n_seeds=2)
    records.append(_record("dann", 7, dict.fromkeys(TEST_I, 0.0), da_j=0.4, status="failed"))
    records.append(_record("dann", 2, {0.0: None, 0.5: None}, da_j=0.4))
    (d,) = decompose(records)
    assert d.n_seeds == 2  # seed 2 only exists at DA 0.4
    assert np.all(np.isfinite(d.gain.value))
    assert da_intensity_of(records[0]) == 0.0 and da_intensity_of(records[-1]) == 0.4


def test_groups_are_split_by_da_dataset() -> None:
    records = _records(n_seeds=2) + [r for r in _records(n_seeds=2, da_dataset="black") if r["spec"]["da_dataset"]]
    decs = decompose(records)
    assert [d.da_dataset for d in decs] == ["black", "fashion_mnist"]


def test_missing_reference_raises_spec_error() -> None:
    records = [r for r in _records(n_seeds=1) if r["spec"]["method"]["name"] != "source_only"]
    with pytest.raises(SpecError, match="source_only"):
        decompose(records)
    assert decompose([]) == []


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


def test_non_convergence_is_flagged_not_raised(decomposition: Decomposition) -> None:
    stuck = fit_degradation(decomposition, maxfev=1)
    assert not stuck.converged and stuck.message and math.isnan(stuck.params["d_max"])
    flat_records = _records(n_seeds=2, noise=0.0)
    for r in flat_records:  # no degradation and no gain at all: the sigmoid is not identifiable
        for domain in r["metrics"].values():
            domain["accuracy"].update(value=REF, low=REF - HALF, high=REF + HALF)
    (flat,) = decompose(flat_records)
    assert not fit_degradation(flat).converged
    assert not fit_gain(flat).converged
    few = [r for r in _records(n_seeds=2) if da_intensity_of(r) in (0.0, 0.4)]
    result = fit_gain(decompose(few)[0])
    assert not result.converged and "3 distinct" in result.message


def test_markdown_is_deterministic_and_escapes_pipes() -> None:
    records = _records(n_seeds=2, da_dataset="fash|ion")
    decs = decompose(records)
    fits = fit_all(decs)
    text = to_markdown(decs, fits)
    assert text == to_markdown(decompose(list(reversed(records))), fit_all(decs))
    assert "fash\\|ion" in text and "fash|ion" not in text.replace("fash\\|ion", "")
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("|"):
            blocks[-1].append(line.replace("\\|", ""))
        elif blocks[-1]:
            blocks.append([])
    tables = [b for b in blocks if b]
    assert len(tables) == 4  # degradation, cost, gain, fits
    for table in tables:  # an unescaped | would add a column to some rows
        assert len({line.count("|") for line in table}) == 1
    assert "Largest observed gain" in text and "converged" in text


def test_json_is_serialisable_with_nan_as_none() -> None:
    records = _records(n_seeds=1)
    records.append(_record("dann", 0, {0.0: 0.9, 1.3: None}, da_j=1.2))
    decs = decompose(records)
    payload = to_json(decs, fit_all(decs))
    text = json.dumps(payload, allow_nan=False)
    (item,) = payload["decompositions"]
    assert item["test_intensities"][-1] == 1.3 and item["gain"]["value"][-1][0] is None
    assert item["fits"]["gain"]["model"] == "gaussian_quadratic" and "max_gain" in item
    assert json.loads(text) == payload


def test_accuracy_curves_pick_da_intensities() -> None:
    records = _records(n_seeds=2) + [r for r in _records(n_seeds=2, da_dataset="black") if r["spec"]["da_dataset"]]
    curves = accuracy_curves(records)
    assert next(iter(curves)) == "no DA (source_only)" and len(curves) == 3
    x, mean, low, high = curves["DA on fashion_mnist (noise 0.4)"]  # largest mean gain: the quadratic peaks at 0.5
    assert x.shape == mean.shape == (len(TEST_I),) and np.all(low <= mean) and np.all(mean <= high)
    fixed = accuracy_curves(records, da_intensity=0.2)
    assert "DA on black (noise 0.2)" in fixed
    matched = accuracy_curves(records, da_intensity="matched")
    x, *_ = matched["DA on black (DA intensity = test intensity)"]
    np.testing.assert_allclose(x, DA_J)
