"""The DANN paper's decomposition (reference − degradation − cost + gain), net benefit, gain over control, clipped
intervals, collapse flags and computed significance, on synthetic records with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from study_records import DA_J, HALF, REF, TEST_I, record, records, true_gain

from dabench import SpecError
from dabench_dann_study.decomposition import Band, Decomposition, combine, decompose, significant, term_bounds
from dabench_dann_study.records import da_intensity_of, variants

ACCURACY = (0.0, 1.0)


@pytest.fixture(scope="module")
def decomposition() -> Decomposition:
    (d,) = decompose(records(), bounds=ACCURACY)
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
    np.testing.assert_allclose(d.net_benefit.value, d.accuracy.value - d.baseline.value[:, None], atol=1e-12)


def test_terms_match_the_generating_model(decomposition: Decomposition) -> None:
    d = decomposition
    assert float(d.reference.value) == pytest.approx(REF, abs=0.01)
    np.testing.assert_allclose(d.cost.value, 0.01 * np.array(DA_J), atol=0.01)
    truth = np.array([[true_gain(i, j) - true_gain(0, j) for j in DA_J] for i in TEST_I])
    np.testing.assert_allclose(d.gain.value, truth, atol=0.02)
    best, at_i, at_j = d.max_gain()
    assert best == pytest.approx(truth.max(), abs=0.02) and at_i == pytest.approx(0.9, abs=0.11)
    assert at_j in (0.4, 0.6)  # the quadratic peaks at 0.5


def test_intervals_contain_the_mean_and_shrink_with_more_seeds(decomposition: Decomposition) -> None:
    for band in (decomposition.degradation, decomposition.cost, decomposition.gain, decomposition.net_benefit):
        assert np.all(band.low <= band.value) and np.all(band.value <= band.high)
    (many,) = decompose(records(n_seeds=12))
    width = decomposition.gain.high - decomposition.gain.low
    many_width = many.gain.high - many.gain.low
    assert np.mean(many_width[1:]) < 0.6 * np.mean(width[1:])


def test_single_seed_uses_bootstrap_half_widths_in_quadrature() -> None:
    (d,) = decompose(records(n_seeds=1))
    assert d.n_seeds == 1
    np.testing.assert_allclose(d.accuracy.high - d.accuracy.value, HALF, atol=1e-12)
    np.testing.assert_allclose((d.degradation.high - d.degradation.value)[1:], HALF * math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(d.cost.high - d.cost.value, HALF * math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose((d.gain.high - d.gain.value)[1:], 2 * HALF, atol=1e-12)  # four independent terms
    np.testing.assert_allclose(d.net_benefit.high - d.net_benefit.value, HALF * math.sqrt(2), atol=1e-12)
    assert np.all(d.gain.high[0] == d.gain.low[0])  # gain(0, j) is 0 by definition, with no uncertainty


def test_intervals_are_clipped_to_what_each_term_can_take() -> None:
    # source_only at 0.2 / 0.98 / 0.99 across seeds: the t-interval of the mean (0.723 ± 1.12) leaves [0, 1]
    spread = [record("source_only", s, {0.0: v, 1.0: v / 2}) for s, v in enumerate((0.2, 0.98, 0.99))]
    da = [record("dann", s, {0.0: v, 1.0: 0.9}, da_j=1.0) for s, v in enumerate((0.1, 0.99, 0.97))]
    (clipped,) = decompose(spread + da, bounds=ACCURACY)
    (raw,) = decompose(spread + da)
    assert float(raw.reference.high) > 1 and float(raw.reference.low) < 0  # what the committed reports showed
    assert float(clipped.reference.low) == 0.0 and float(clipped.reference.high) == 1.0
    assert float(clipped.reference.value) == pytest.approx(float(raw.reference.value))
    for name in ("degradation", "cost", "net_benefit"):  # two scores: within [-1, 1]
        band = getattr(clipped, name)
        assert np.all(band.low >= -1.0) and np.all(band.high <= 1.0)
    assert np.all(clipped.gain.low >= -2.0) and np.all(clipped.gain.high <= 2.0)  # four scores
    assert term_bounds({("so", 0.0): 1.0, ("so", 1.0): -1.0}, ACCURACY) == (-1.0, 1.0)
    assert term_bounds({(1.0, 1.0): 1.0, (1.0, 0.0): -1.0, ("so", 1.0): -1.0, ("so", 0.0): 1.0}, ACCURACY) == (
        -2.0,
        2.0,
    )


def test_significance_is_computed_from_the_interval() -> None:
    band = Band(np.array([0.3, 0.2, -0.2, 0.0, math.nan]), np.array([0.1, -0.1, -0.3, 0.0, math.nan]),
                np.array([0.5, 0.5, -0.1, 0.0, math.nan]))  # fmt: skip
    assert significant(band, ACCURACY).tolist() == [True, False, True, False, False]
    tiny = Band(np.array([1e-12]), np.array([1e-13]), np.array([2e-12]))  # floating-point noise is not a finding
    assert significant(tiny, ACCURACY).tolist() == [False]


def test_net_benefit_shows_a_collapsed_model_below_the_raw_cnn() -> None:
    """The committed PBC case: a DANN below source_only at every shifted intensity, yet a 'significant' gain."""
    out = []
    for seed in range(3):
        base = 0.77 + 0.01 * seed
        out.append(record("source_only", seed, {0.0: base, 0.5: 0.55, 1.0: 0.26}))
        out.append(
            record("dann", seed, {0.0: 0.22, 0.5: 0.17, 1.0: 0.15 + 0.01 * seed}, da_j=1.0, da_dataset="pbc",
                   collapsed={0.0: True, 0.5: True, 1.0: seed > 0})
        )  # fmt: skip
    (d,) = decompose(out, bounds=ACCURACY)
    gain_sig = significant(d.gain, d.bounds)
    net_sig = significant(d.net_benefit, d.bounds)
    assert d.gain.value[2, 0] > 0.3 and gain_sig[2, 0]  # large "gain" ...
    assert np.all(d.net_benefit.value[:, 0] < 0) and net_sig[2, 0]  # ... but worse than the raw CNN everywhere
    assert d.collapsed[:, 0].tolist() == [3, 3, 2] and d.collapse_known[:, 0].tolist() == [3, 3, 3]
    assert d.baseline_collapsed.tolist() == [0, 0, 0] and d.baseline_collapse_known.tolist() == [0, 0, 0]


def test_control_rows_split_groups_and_give_the_gain_over_control() -> None:
    base = records(n_seeds=3, da_j=[0.0, 0.5, 1.0], params={"lambda_max": 1.0})
    control = [r for r in records(n_seeds=3, da_j=[0.0, 0.5, 1.0], params={"lambda_max": 0.0}, rng_seed=1)]
    for r in control:  # the control gains half as much: half of the gain is the adversarial term's
        if r["spec"]["method"]["name"] == "dann":
            for i, metrics in r["metrics"].items():
                est = metrics["accuracy"]
                shift = -0.5 * true_gain(float(i[5:]), r["spec"]["da_shift"][0]["intensity"])
                est.update(value=est["value"] + shift, low=est["low"] + shift, high=est["high"] + shift)
    decs = decompose(base + [r for r in control if r["spec"]["method"]["name"] == "dann"], bounds=ACCURACY)
    assert [(d.variant, d.control) for d in decs] == [("lambda_max=0", True), ("lambda_max=1", False)]
    ctl, dann = decs
    assert dann.control_label.startswith("dann (lambda_max=0)") and ctl.gain_over_control is None
    assert dann.gain_over_control is not None
    expected = dann.gain.value - ctl.gain.value
    np.testing.assert_allclose(dann.gain_over_control.value, expected, atol=1e-12)
    peak = int(np.argmax(dann.gain.value[:, 1]))
    assert significant(dann.gain_over_control, ACCURACY)[peak, 1]  # paired across seeds: the half is detected
    assert "control: adversarial term off" in ctl.label and "lambda_max=1" in dann.label


def test_variants_name_what_differs() -> None:
    rs = [
        record("dann", 0, {0.0: 0.9}, da_j=0.5, params={"lambda_max": 1.0, "epochs": 2}),
        record("dann", 0, {0.0: 0.9}, da_j=0.5, params={"lambda_max": 0.0, "epochs": 2}),
        record("adabn", 0, {0.0: 0.9}, da_j=0.5, params={"epochs": 2}),
    ]
    assert sorted(variants(rs).values()) == ["", "lambda_max=0", "lambda_max=1"]


def test_blur_no_da_shift_sits_at_kernel_one() -> None:
    """A DA run without a DA shift joins the blur DA group at k = 1 (the blur identity), not at intensity 0."""
    grid = [1.0, 3.0, 5.0, 9.0]
    out = []
    for seed in range(2):
        out.append(record("source_only", seed, {k: 0.97 - 0.08 * (k - 1) for k in grid}, test_shift="blur"))
        out.append(record("dann", seed, dict.fromkeys(grid, 0.9), da_j=0.0, test_shift="blur", no_da_shift=True))
        for k in (5.0, 9.0):
            out.append(record("dann", seed, dict.fromkeys(grid, 0.9), da_j=k, test_shift="blur"))
    (d,) = decompose(out, bounds=ACCURACY)
    assert d.da_intensities.tolist() == [1.0, 5.0, 9.0] and d.test_intensities[0] == 1.0
    noise = records(n_seeds=1, da_j=[0.5])
    noise.append(record("dann", 0, {i: 0.9 for i in TEST_I}, da_j=0.0, no_da_shift=True))
    (n,) = decompose(noise)
    assert n.da_intensities.tolist() == [0.0, 0.5]  # noise: "no shift" is intensity 0


def test_failed_and_null_records_are_handled() -> None:
    rs = records(n_seeds=2)
    rs.append(record("dann", 7, dict.fromkeys(TEST_I, 0.0), da_j=0.4, status="failed"))
    rs.append(record("dann", 2, {0.0: None, 0.5: None}, da_j=0.4))
    (d,) = decompose(rs)
    assert d.n_seeds == 2  # seed 2 only exists at DA 0.4
    assert np.all(np.isfinite(d.gain.value))
    assert da_intensity_of(rs[0]) == 0.0 and da_intensity_of(rs[-1]) == 0.4


def test_groups_are_split_by_da_dataset() -> None:
    rs = records(n_seeds=2) + [r for r in records(n_seeds=2, da_dataset="black") if r["spec"]["da_dataset"]]
    assert [d.da_dataset for d in decompose(rs)] == ["black", "fashion_mnist"]


def test_missing_reference_raises_spec_error() -> None:
    rs = [r for r in records(n_seeds=1) if r["spec"]["method"]["name"] != "source_only"]
    with pytest.raises(SpecError, match="source_only"):
        decompose(rs)
    assert decompose([]) == []


def test_combine_pairs_seeds() -> None:
    """Seed-to-seed variation shared by two scores cancels in their paired difference."""
    a = {0: {0.0: (0.5, 0.01)}, 1: {0.0: (0.7, 0.01)}, 2: {0.0: (0.9, 0.01)}}
    b = {s: {0.0: (v[0.0][0] - 0.1, 0.01)} for s, v in a.items()}
    mean, low, high = combine({"a": a, "b": b}, {("a", 0.0): 1.0, ("b", 0.0): -1.0})
    assert mean == pytest.approx(0.1) and high - low == pytest.approx(0.0, abs=1e-9)
