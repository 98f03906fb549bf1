"""The BN-adaptation study's analysis on synthetic records: tables, intervals, flags, the predictor evaluation (ρ,
held-out fits that never see the held-out setting), missing diagnostics, deterministic output."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from bn_records import SOURCES, cell_name, estimate, perlin_records, record, shift_records
from scipy.stats import spearmanr

import dabench
from dabench.registry import Registry
from dabench_bn_study import analysis, cells, predictors
from dabench_bn_study.records import PERLIN, SHIFT, settings
from dabench_bn_study.summary import Summary, summarise, summarise_gain

CTX = dabench.AnalysisContext(bounds={"dice": (0.0, 1.0), "foreground_fraction": (0.0, 1.0)})


def _tables(rs: list[dict]) -> list[cells.SourceTable]:
    return [cells.source_table(s, bounds=(0.0, 1.0)) for s in settings(rs, PERLIN)]


def test_applies_needs_a_completed_grid_run() -> None:
    assert analysis.applies(perlin_records(seeds=(0,), sources=SOURCES[:1]))
    assert analysis.applies(shift_records(seeds=(0,)))
    assert not analysis.applies([{"status": "failed", "spec": {"protocol": "perlin_grid"}}])
    assert not analysis.applies([{"status": "ok", "spec": {"protocol": "uda"}}])


def test_records_pair_by_source_setting_and_seed() -> None:
    rs = perlin_records(seeds=(0, 1))
    rs.append(record("adabn", 5, {}, domain="mu1=0.7,mu2=0.3,n_train=64,n_test=16"))  # no source_only partner
    found = settings(rs, PERLIN)
    assert [s.source for s in found] == [(0.3, 0.7), (0.6, 0.4), (0.7, 0.3)]
    assert all(s.seeds == (0, 1) and s.arm.label == "adabn" for s in found)
    assert found[2].unpaired == 1
    table = cells.source_table(found[2])
    assert len(table.rows) == 20 and table.source_cell is not None and len(table.targets) == 19
    assert "no source_only partner" in table.notes[0]
    off_grid = cells.source_table(found[1])
    assert off_grid.source_cell is None and len(off_grid.targets) == 20


def test_two_adabn_configurations_are_two_arms() -> None:
    rs = perlin_records(seeds=(0,), sources=SOURCES[:1])
    extra = [dict(r, key=r["key"] + "/running") for r in rs if r["spec"]["method"]["name"] == "adabn"]
    for r in extra:
        r["spec"] = dict(r["spec"], params=dict(r["spec"]["params"], estimator="running"))
    labels = sorted(s.arm.label for s in settings(rs + extra, PERLIN))
    assert labels == ["adabn[estimator=exact]", "adabn[estimator=running]"]


def test_gain_is_paired_and_says_its_basis() -> None:
    reps_u, reps_a = np.linspace(0.4, 0.6, 40), np.linspace(0.4, 0.6, 40) + 0.2
    with_reps = summarise_gain([(estimate(0.5, reps_u), estimate(0.7, reps_a))], (0.0, 1.0))
    assert with_reps.basis == "replicates" and with_reps.value == pytest.approx(0.2)
    assert with_reps.low == pytest.approx(0.2) and with_reps.high == pytest.approx(0.2)  # same resamples: no width
    seeds = summarise_gain([(estimate(0.5), estimate(0.7)), (estimate(0.6), estimate(0.9))], (0.0, 1.0))
    assert seeds.basis == "seeds" and seeds.value == pytest.approx(0.25) and seeds.low < 0.25 < seeds.high
    one = summarise_gain([(estimate(0.5, half=0.03), estimate(0.7, half=0.04))], (0.0, 1.0))
    assert one.basis == "quadrature" and one.high - one.value == pytest.approx(0.05)
    assert summarise([estimate(0.99, half=0.05)], (0.0, 1.0)).high == 1.0  # clipped to the metric's bounds


def test_flags() -> None:
    def gain(low: float) -> Summary:
        return dataclasses.replace(cells.EMPTY, value=low + 0.1, low=low, high=low + 0.2)

    assert cells.flags_of(0.95, 0.95, gain(0.05)) == ("all white", "recovered")
    assert cells.flags_of(0.05, 0.3, gain(-0.1)) == ("all black", "not improved")
    assert cells.flags_of(0.5, 0.5, gain(0.0)) == ("not improved",)  # an interval touching 0 is not an improvement
    assert cells.flags_of(math.nan, math.nan, cells.EMPTY) == ()


def test_flags_from_records() -> None:
    def override(source: tuple[float, float], cell: tuple[float, float]) -> tuple[float, ...] | None:
        if cell == (0.9, 0.7):
            return (0.3, 0.95, 0.97, 0.5)  # all white unadapted, recovered adapted
        if cell == (0.3, 0.1):
            return (0.1, 0.1, 0.02, 0.02)  # all black, not improved
        return None

    table = _tables(perlin_records(sources=SOURCES[:1], overrides=override))[0]
    by = {r.domain: r for r in table.rows}
    assert by[cell_name(0.9, 0.7)].flags == ("all white", "recovered")
    assert by[cell_name(0.3, 0.1)].flags == ("all black", "not improved")
    assert table.in_domain.value > 0.95 and table.in_domain.basis == "replicates"


def test_spearman_rows_equals_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, size=(5, 12)).astype(float), rng.standard_normal((5, 12))
    expected = [spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)]
    assert np.allclose(predictors.spearman_rows(x, y), expected)


def test_a_monotone_predictor_has_rho_one_and_noise_a_small_one() -> None:
    study = predictors.evaluate(_tables(perlin_records()), n_boot=300)
    bhat, mmd = study.result("latent_bhattacharyya"), study.result("latent_mmd")
    assert bhat is not None and mmd is not None
    assert all(v.value == pytest.approx(1.0) for v in bhat.per_setting.values())
    assert bhat.pooled_rho.value > 0.95 and bhat.pooled_mae.value < 0.02
    assert abs(mmd.pooled_rho.value) < 0.4 and mmd.pooled_rho.low < 0 < mmd.pooled_rho.high
    assert all(abs(v.value) < 0.6 for v in mmd.per_setting.values())
    assert study.winner == "latent_bhattacharyya" and "latent_bhattacharyya" in study.reaching
    assert study.best_pixel == "pixel_mean_diff" and "latent_bhattacharyya" in study.beats_pixel
    versus = study.versus_pixel["latent_mmd"]  # noise vs a weak baseline: the paired interval includes 0
    assert "latent_mmd" not in study.beats_pixel and versus.low < 0 < versus.high
    assert {h.direction for h in bhat.held_out} == {"increasing"}


def test_a_decreasing_relation_is_fitted_decreasing() -> None:
    study = predictors.evaluate(_tables(perlin_records(gain=lambda b: -0.3 * b)), n_boot=100)
    bhat = study.result("latent_bhattacharyya")
    assert bhat is not None and {h.direction for h in bhat.held_out} == {"decreasing"}
    assert all(v.value == pytest.approx(-1.0) for v in bhat.per_setting.values()) and bhat.pooled_rho.value > 0.95


def test_held_out_prediction_never_uses_the_held_out_setting() -> None:
    tables = _tables(perlin_records())
    base = predictors.evaluate(tables, n_boot=50)
    corrupted = list(tables)
    held = corrupted[0]
    rows = tuple(dataclasses.replace(r, gain=dataclasses.replace(r.gain, value=-5.0 * r.gain.value)) for r in held.rows)
    corrupted[0] = dataclasses.replace(held, rows=rows)
    after = predictors.evaluate(corrupted, n_boot=50)
    for name in ("latent_bhattacharyya", "latent_w2_gaussian"):
        before, now = base.result(name), after.result(name)
        assert before is not None and now is not None
        assert now.held_out[0].predicted == before.held_out[0].predicted  # its own gains were never seen
        assert now.held_out[1].predicted != before.held_out[1].predicted  # the others' fits did see them


def test_missing_diagnostics_are_skipped_with_a_note(tmp_path: Path) -> None:
    rs = perlin_records(diagnostics=("latent_bhattacharyya", "pixel_mean_diff"))
    for r in rs:  # one cell of one setting lacks the pixel baseline
        if r["spec"]["dataset"]["domain"].startswith("mu1=0.3"):
            r["diagnostics"][cell_name(0.1, 0.5)].pop("pixel_mean_diff")
    study = predictors.evaluate(_tables(rs), n_boot=50)
    assert [r.name for r in study.results] == ["latent_bhattacharyya"]
    reasons = dict(study.skipped)
    assert reasons["latent_mmd"] == "absent from the records' diagnostics"
    assert "missing in 1 of 19 cells of mu1=0.3,mu2=0.7" in reasons["pixel_mean_diff"]
    assert study.best_pixel is None and study.versus_pixel == {}
    for r in rs:
        r.pop("diagnostics")
    rs.append(record("adabn", 9, {}, status="failed"))
    analysis.write_tables(rs, tmp_path, CTX)
    text = (tmp_path / "analysis.md").read_text()
    assert "1 perlin_grid record(s) did not complete" in text
    assert "No predictor could be evaluated" in text and "absent from the records' diagnostics" in text


def test_one_source_setting_has_no_held_out_evaluation() -> None:
    study = predictors.evaluate(_tables(perlin_records(sources=SOURCES[:1])), n_boot=50)
    assert not study.held_out and study.versus_pixel == {}
    result = study.result("latent_bhattacharyya")
    assert result is not None and math.isnan(result.pooled_rho.value) and result.held_out == ()
    assert study.winner == "latent_bhattacharyya"


def test_shift_grid_table() -> None:
    found = settings(shift_records(), SHIFT)
    assert [s.source for s in found] == ["brightness", "gamma"]
    table = cells.source_table(found[0])
    assert [r.position for r in table.rows] == [(-0.3,), (0.0,), (0.3,)]
    assert table.rows[0].gain.basis == "seeds" and table.rows[0].gain.value == pytest.approx(0.09, abs=0.03)


def test_tables_are_deterministic(tmp_path: Path) -> None:
    rs = perlin_records(seeds=(0, 1)) + shift_records(shifts={"brightness": (-0.3, 0.3)})
    first, second = tmp_path / "a", tmp_path / "b"
    written, _, _ = analysis.write_tables(rs, first, CTX)
    analysis.write_tables(list(reversed(rs)), second, CTX)  # record order does not matter
    assert sorted(p.name for p in written) == ["analysis.json", "analysis.md", "paper_comparison.md"]
    for path in written:
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    doc = json.loads((first / "analysis.json").read_text())
    assert doc["perlin"][0]["predictors"]["winner"] == "latent_bhattacharyya"
    assert [s["source"] for s in doc["perlin"][0]["sources"]] == [
        "mu1=0.3,mu2=0.7",
        "mu1=0.6,mu2=0.4",
        "mu1=0.7,mu2=0.3",
    ]
    text = (first / "analysis.md").read_text()
    assert "**Winner** (by pooled held-out prediction ρ): `latent_bhattacharyya`" in text
    assert "beat it" in text and "Reaching ρ ≥ 0.8" in text
    assert "| (0.1, 0.3) " in text and "### Shift `brightness`" in text


def test_run_writes_the_figures_reproducibly(tmp_path: Path) -> None:
    rs = perlin_records(sources=SOURCES[:1], seeds=(0,), grid=(0.3, 0.7), diagnostics=("latent_bhattacharyya",))
    rs += shift_records(shifts={"brightness": (-0.3, 0.3)}, seeds=(0,))
    first, second = tmp_path / "a", tmp_path / "b"
    written = analysis.run(rs, first, CTX)
    analysis.run(rs, second, CTX)
    names = sorted(str(p.relative_to(first)) for p in written)
    figures = [n for n in names if n.startswith("figures/")]
    assert figures == sorted(
        f"figures/{stem}.{ext}"
        for stem in ("heatmap_adabn_mu1_0.7_mu2_0.3",
                     "gain_vs_latent_bhattacharyya_adabn", "shift_adabn_brightness")
        for ext in ("png", "svg")
    )  # fmt: skip
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def _paper_pattern(source: tuple[float, float], cell: tuple[float, float]) -> tuple[float, ...] | None:
    """The paper's picture on source (0.7, 0.3): brighter targets all white, darker all black, same-contrast cells
    recovered by adaptation, contrast-inverted cells not improved; (0.7, 0.3) ⇄ (0.3, 0.7) asymmetric."""
    if source == (0.7, 0.3) and cell == (0.3, 0.7):
        return (0.2, 0.7, 0.5, 0.5)
    if source == (0.3, 0.7) and cell == (0.7, 0.3):
        return (0.01, 0.03, 0.0, 0.02)
    if source != (0.7, 0.3):
        return None
    brightness = (cell[0] + cell[1]) / 2 - 0.5
    same_contrast = abs(cell[0] - cell[1] - 0.4) < 1e-9
    fg = 0.97 if brightness >= 0.2 - 1e-9 else (0.02 if brightness <= -0.2 + 1e-9 else 0.5)
    if same_contrast:
        return (0.3, 0.95, fg, 0.5)
    if cell[0] < cell[1]:
        return (0.1, 0.1, fg, fg)
    return (0.5, 0.8, fg, 0.5)


def test_paper_comparison_is_computed_from_the_records() -> None:
    from dabench_bn_study import paper, serialise

    rs = perlin_records(sources=SOURCES[:2], seeds=(0, 1), overrides=_paper_pattern)
    tables = tuple(_tables(rs))
    group = serialise.PerlinGroup("perlin", "adabn", tables, predictors.evaluate(tables, n_boot=50))
    doc = json.loads(json.dumps(serialise.to_json([group], [], metric="dice")))
    rows = {r.claim.split(":")[0]: r for r in paper.compare(doc)}
    assert (
        rows["FS1 → FS2"].agree == "yes"
        and "mu1=0.7,mu2=0.3 → mu1=0.3,mu2=0.7: 0.200 → 0.700" in rows["FS1 → FS2"].dabench
    )
    assert rows["FS2 → FS1"].agree == "yes" and "0.010 → 0.030" in rows["FS2 → FS1"].dabench
    assert rows["the effect is asymmetric between the two directions"].agree == "yes"
    assert rows["unadapted"].agree == "yes"  # both saturation claims share the prefix; the last one is kept
    white = next(r for r in paper.compare(doc) if r.claim.endswith("all white"))
    assert white.agree == "yes" and white.dabench.startswith("4/4 on sources whose mask is the brighter")
    assert rows["BN adaptation works well with brightness shifts"].agree == "yes"
    assert rows["in some cases BN adaptation does not improve"].agree == "yes"
    bhattacharyya = rows["Bhattacharyya distance predicts the gain"]
    assert bhattacharyya.agree == "no" and bhattacharyya.dabench.startswith("held-out ρ")
    text = paper.to_markdown(paper.compare(doc))
    assert text.count("\n| ") == 9 and "never edit by hand" in text


def test_the_plugin_registers_the_analysis(registry: Registry, tmp_path: Path) -> None:
    spec = registry.analyses.get("bn_adaptation")
    rs = shift_records(shifts={"brightness": (0.3,)}, seeds=(0,))
    assert spec.applies(rs) and not spec.applies([])
    written = spec.run(rs, tmp_path, CTX)
    assert (tmp_path / "analysis.md") in written and (tmp_path / "figures" / "shift_adabn_brightness.png") in written
