"""Held-out evaluation of benefit predictors: joining records into units, fold logic, maps, scores, JSON."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from dabench.errors import SpecError
from dabench.predictors.heldout import (
    Evaluation,
    PredictorInfo,
    evaluate,
    evaluate_external,
    fit_map,
    fold_groups,
    predict,
    signal_of,
)
from dabench.predictors.units import Unit, join_units

LINEAR = PredictorInfo(estimates="", benefit_map="linear", paper="test 2026")
DIRECT = PredictorInfo(estimates="accuracy", benefit_map="linear", paper="test 2026")


def make_unit(
    family: str,
    cell: int,
    seed: int,
    benefit: float,
    predictions: Mapping[str, Mapping[str, float]],
    *,
    realised: float = 0.7,
    dataset: str = "digits",
) -> Unit:
    key = f"{family}-{cell}-{seed}"
    return Unit(
        key=key,
        domain="target",
        seed=seed,
        dataset=dataset,
        family=family,
        cell=f"{dataset}|{family}|{cell}",
        task_type="classification",
        metric="accuracy",
        source_score=0.95,
        source_value=0.95,
        estimates="accuracy",
        realised_score=realised,
        adapted_score=realised + benefit,
        benefit=benefit,
        predictions=predictions,
        adapted_key=f"m-{key}",
    )


def synthetic(n_families: int = 4, n_cells: int = 6, n_seeds: int = 2, seed: int = 0) -> list[Unit]:
    """Units whose ``good`` signal is the benefit plus small noise and whose ``random`` signal is noise."""
    rng = np.random.default_rng(seed)
    units = []
    for f in range(n_families):
        for c in range(n_cells):
            benefit = float(rng.uniform(-0.1, 0.2))
            for s in range(n_seeds):
                b = benefit + float(rng.normal(0, 0.003))
                good = {"shift_score": b + float(rng.normal(0, 0.002))}
                random = {"shift_score": float(rng.uniform(0, 1))}
                units.append(make_unit(f"fam{f}", c, s, b, {"good": good, "random": random}))
    return units


# ---------------------------------------------------------------------------------------------- scores


def test_informative_predictor_beats_random_signal() -> None:
    units = synthetic()
    ev = evaluate(units, {"good": LINEAR, "random": LINEAR}, scheme="leave_one_shift_family_out", n_boot=200)
    good, random = ev.result("good"), ev.result("random")
    assert good.spearman is not None and good.spearman > 0.97
    assert good.spearman_ci is not None and 0.9 < good.spearman_ci[0] < good.spearman_ci[1] <= 1.0
    assert good.auroc is not None and good.auroc > 0.97
    assert good.regret_pp is not None and good.regret_pp < 0.3
    assert random.spearman is not None and abs(random.spearman) < 0.35
    assert random.regret_pp is not None and random.regret_pp > good.regret_pp + 0.3
    assert good.n_units == len(units) and good.n_folds == 4 and good.skipped_folds == 0
    always, never = ev.controls
    assert always.name == "always_adapt" and never.name == "never_adapt"
    assert always.regret_pp is not None and never.regret_pp is not None
    assert good.regret_pp < min(always.regret_pp, never.regret_pp)


def test_control_regrets_by_hand() -> None:
    benefits = [0.05, -0.02, 0.0, 0.03, -0.04, 0.01]
    realised = [0.6, 0.7, 0.8, 0.5, 0.9, 0.4]
    units = [
        make_unit(f"f{i // 2}", i % 2, 0, b, {"p": {"shift_score": float(i)}}, realised=r)
        for i, (b, r) in enumerate(zip(benefits, realised, strict=True))
    ]
    ev = evaluate(units, {"p": LINEAR}, scheme="leave_one_shift_family_out", n_boot=10)
    controls = {c.name: c for c in ev.controls}
    # always adapting loses the negative benefits (0.02 + 0.04) / 6; never adapting loses the positive ones
    assert controls["always_adapt"].regret_pp == pytest.approx((0.02 + 0.04) / 6 * 100)
    assert controls["never_adapt"].regret_pp == pytest.approx((0.05 + 0.03 + 0.01) / 6 * 100)
    assert controls["always_adapt"].n_units == 6 and controls["always_adapt"].n_folds == 3
    # the predictor's own regret is the loss of the choices it advised
    points = ev.result("p").points
    lost = [max(0.0, p.benefit) if p.predicted_benefit <= 0.01 else max(0.0, -p.benefit) for p in points]
    assert ev.result("p").regret_pp == pytest.approx(np.mean(lost) * 100)


def test_unit_is_never_predicted_by_a_map_fitted_on_its_own_group() -> None:
    units = []
    for f, sign in (("a", 1.0), ("b", 1.0), ("c", 1.0), ("inverted", -1.0)):
        for c in range(4):
            s = 0.05 * (c + 1)
            units.append(make_unit(f, c, 0, sign * 0.5 * s, {"p": {"shift_score": s}}))
    ev = evaluate(units, {"p": LINEAR}, scheme="leave_one_shift_family_out", n_boot=10)
    points = ev.result("p").points
    assert all(p.group == p.family for p in points) and len(points) == len(units)
    inverted = [p for p in points if p.family == "inverted"]
    # fitted on a, b, c only: the inverted family is predicted with the others' slope +0.5, exactly
    assert np.allclose([p.predicted_benefit for p in inverted], [0.5 * p.signal for p in inverted])
    assert all(p.benefit == pytest.approx(-0.5 * p.signal) for p in inverted)
    # the final map is fitted on all four families, so it differs from every fold's
    final = ev.result("p").final
    assert final is not None and final.fit.benefit.params["slope"] < 0.4


def test_fold_with_too_few_training_cells_is_skipped_and_counted() -> None:
    units = [make_unit("big", c, 0, 0.01 * c, {"p": {"shift_score": 0.1 * c}}) for c in range(4)]
    units += [make_unit("small", 0, 0, 0.02, {"p": {"shift_score": 0.1}})]
    ev = evaluate(units, {"p": LINEAR}, scheme="leave_one_shift_family_out", n_boot=10)
    result = ev.result("p")
    # holding out "big" leaves one training cell: skipped; holding out "small" leaves four: scored
    assert result.skipped_folds == 1 and result.n_folds == 1 and result.n_units == 1
    assert {c.name: c.n_units for c in ev.controls} == {"always_adapt": 1, "never_adapt": 1}


def test_calibrated_mae_by_hand() -> None:
    rng = np.random.default_rng(3)
    units = []
    for f, offset in (("a", 0.0), ("b", 0.02), ("c", -0.01), ("d", 0.03)):
        for c in range(3):
            s = float(rng.uniform(0, 0.5))
            units.append(make_unit(f, c, 0, 0.0, {"p": {"shift_score": s}}, realised=0.9 - 0.5 * s + offset))
    ev = evaluate(units, {"p": LINEAR}, scheme="leave_one_shift_family_out", n_boot=10)
    errors = []
    for family in "abcd":
        train = [u for u in units if u.family != family]
        slope, intercept = np.polyfit(
            [u.predictions["p"]["shift_score"] for u in train], [u.realised_score for u in train], 1
        )
        errors += [
            abs(intercept + slope * u.predictions["p"]["shift_score"] - u.realised_score)
            for u in units
            if u.family == family
        ]
    assert ev.result("p").mae_pp == pytest.approx(np.mean(errors) * 100)


def test_direct_predictor_mae_and_degradation_signal_by_hand() -> None:
    targets, realised = [0.8, 0.6, 0.7, 0.9, 0.5, 0.75], [0.82, 0.55, 0.7, 0.85, 0.52, 0.8]
    units = [
        make_unit(f"f{i // 2}", i % 2, 0, 0.01 * i, {"atc": {"target_score": t}}, realised=r)
        for i, (t, r) in enumerate(zip(targets, realised, strict=True))
    ]
    ev = evaluate(units, {"atc": DIRECT}, scheme="leave_one_shift_family_out", n_boot=10)
    result = ev.result("atc")
    assert result.mae_pp == pytest.approx(np.mean(np.abs(np.subtract(targets, realised))) * 100)
    assert [p.signal for p in result.points] == pytest.approx([0.95 - t for t in targets])
    assert result.final is not None and result.final.fit.direct and result.final.fit.calibration is None
    # the same values without a declared estimate are calibrated instead: a different MAE
    calibrated = evaluate(units, {"atc": LINEAR}, scheme="leave_one_shift_family_out", n_boot=10).result("atc")
    assert calibrated.mae_pp != pytest.approx(result.mae_pp)


def test_signal_of() -> None:
    assert signal_of({"target_score": 0.7, "shift_score": 3.0}, 0.9) == pytest.approx(0.2)
    assert signal_of({"shift_score": 3.0}, 0.9) == 3.0
    assert signal_of({"target_score": math.nan}, 0.9) is None


def test_gaussian_map_recovers_a_known_bump_and_falls_back() -> None:
    s = np.linspace(0.0, 0.6, 25)
    y = 0.08 * np.exp(-((s - 0.3) ** 2) / (2 * 0.1**2))
    fitted, note = fit_map("gaussian", s, y)
    assert note == "" and fitted.kind == "gaussian"
    assert fitted.params["a"] == pytest.approx(0.08, rel=1e-3)
    assert fitted.params["mu"] == pytest.approx(0.3, abs=1e-3)
    assert fitted.params["sigma"] == pytest.approx(0.1, rel=1e-3)
    fallback, note = fit_map("gaussian", s[:3], y[:3])
    assert fallback.kind == "linear" and "linear map used" in note
    with pytest.raises(SpecError, match="linear, gaussian"):
        fit_map("cubic", s, y)
    bump = PredictorInfo(estimates="", benefit_map="gaussian", paper="paper 000")
    units = [
        make_unit(f"f{i % 4}", i // 4, 0, float(v), {"p": {"shift_score": float(x)}})
        for i, (x, v) in enumerate(zip(s, y, strict=True))
    ]
    result = evaluate(units, {"p": bump}, scheme="leave_one_shift_family_out", n_boot=10).result("p")
    assert result.final is not None and result.final.fit.benefit.kind == "gaussian"
    assert result.spearman is not None and result.spearman > 0.95


def test_fold_groups_and_schemes() -> None:
    units = [make_unit("a", 0, 0, 0.0, {}, dataset="digits"), make_unit("b", 0, 0, 0.0, {}, dataset="pbc")]
    assert list(fold_groups(units, "leave_one_shift_family_out")) == ["a", "b"]
    assert list(fold_groups(units, "leave_one_dataset_out")) == ["digits", "pbc"]
    with pytest.raises(SpecError, match="leave_one_dataset_out"):
        fold_groups(units, "leave_one_out")


def test_external_evaluation_fits_on_one_set_and_scores_another() -> None:
    fit_units = [u for u in synthetic(seed=1) if u.family != "fam3"]
    natural = [
        make_unit("natural", c, 0, -0.5 * 0.05 * c, {"good": {"shift_score": 0.05 * c}}, dataset="mnist")
        for c in range(5)
    ]
    ev = evaluate_external(fit_units, natural, {"good": LINEAR, "random": LINEAR}, n_boot=50)
    good = ev.result("good")
    assert ev.scheme == "external" and good.n_units == 5 and good.n_folds == 1
    # fitted on synthetic shifts where the signal tracks the benefit; the natural pairs invert it
    assert good.spearman == pytest.approx(-1.0)
    assert ev.result("random").n_units == 0 and ev.result("random").final is None  # no values on the pairs


# -------------------------------------------------------------------------------------------- JSON / predict


def test_json_round_trip_and_predict() -> None:
    ev = evaluate(synthetic(), {"good": LINEAR, "random": DIRECT}, scheme="leave_one_shift_family_out", n_boot=50)
    data = json.loads(json.dumps(ev.to_json(), allow_nan=False))
    back = Evaluation.from_json(data)
    assert back.to_json() == ev.to_json()
    assert back.result("good") == ev.result("good")
    entry = back.result("good")
    pred = predict(entry, {"shift_score": 0.1}, 0.95)
    assert pred == predict(ev.result("good"), {"shift_score": 0.1}, 0.95)
    assert pred.benefit == pytest.approx(0.1, abs=0.01)
    assert pred.benefit_80 is not None and pred.benefit_95 is not None
    assert pred.benefit_95[0] <= pred.benefit_80[0] <= pred.benefit <= pred.benefit_80[1] <= pred.benefit_95[1]
    assert pred.target_80 is not None and 0.0 <= pred.target_80[0] <= pred.target_80[1] <= 1.0
    with pytest.raises(SpecError, match="no finite target_score or shift_score"):
        predict(entry, {}, 0.95)
    with pytest.raises(SpecError, match="was not evaluated"):
        ev.result("nope")
    with pytest.raises(SpecError, match="not a benefit-predictor evaluation"):
        Evaluation.from_json({"scheme": "x"})


# ---------------------------------------------------------------------------------------------------- join


def _ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": "1", "plugin": "dabench 0.1.0", "code": "abc", **extra}


def record(
    method: str,
    *,
    seed: int = 0,
    intensity: float = 0.5,
    params: Mapping[str, Any] | None = None,
    target: float = 0.6,
    key: str | None = None,
    status: str = "ok",
    bp: bool = True,
) -> dict[str, Any]:
    params = {"epochs": 2, **(params or {})}
    rec: dict[str, Any] = {
        "key": key or f"{method}-{seed}-{intensity}-{sorted(params.items())}",
        "status": status,
        "created": "2026-12-01T00:00:00+00:00",
        "spec": {
            "method": _ref(method),
            "params": params,
            "dataset": _ref("digits"),
            "target": None,
            "shift": [_ref("noise", intensity=intensity)],
            "protocol": "dann4",
            "protocol_version": "1",
            "metrics": [_ref("accuracy"), _ref("macro_f1")],
            "seed": seed,
            "n_bootstrap": 100,
            "da_dataset": None,
            "da_shift": [],
            "test_intensities": [0.0, 0.5],
        },
        "metrics": {
            domain: {"accuracy": {"value": value}, "macro_f1": {"value": value - 0.1}}
            for domain, value in (("source", 0.95), ("test@0", 0.9), ("test@0.5", target))
        },
    }
    if bp and method == "source_only":
        rec["benefit_predictors"] = {
            "source": {"metric": "accuracy", "score": 0.95, "values": {"accuracy": 0.95}},
            "estimates": "accuracy",
            "domains": {
                "test@0": {"atc_mc": {"target_score": 0.88}, "mmd": {"shift_score": 0.01}},
                "test@0.5": {"atc_mc": {"target_score": 0.65}, "mmd": {"shift_score": 0.3}},
            },
            "skipped": {},
        }
    return rec


def test_join_matches_spec_seed_and_params() -> None:
    records = [
        record("source_only", seed=0),
        record("source_only", seed=1),
        record("dann", seed=0, target=0.7, params={"lambda_max": 1.0}),
        record("dann", seed=1, target=0.5, params={"lambda_max": 1.0}),
        record("dann", seed=0, intensity=0.3, target=0.99, params={"lambda_max": 1.0}),  # another shift
        record("dann", seed=0, target=0.99, params={"epochs": 9, "lambda_max": 1.0}),  # another budget
        record("adabn", seed=0, target=0.99),
    ]
    result = join_units(records, "dann")
    assert len(result.units) == 4 and result.notes == []
    by = {(u.seed, u.domain): u for u in result.units}
    u = by[(0, "test@0.5")]
    assert u.realised_score == 0.6 and u.adapted_score == 0.7 and u.benefit == pytest.approx(0.1)
    assert by[(1, "test@0.5")].benefit == pytest.approx(-0.1)
    assert u.family == "noise" and u.dataset == "digits" and u.metric == "accuracy" and u.estimates == "accuracy"
    assert u.source_value == 0.95 and u.predictions == {"atc_mc": {"target_score": 0.65}, "mmd": {"shift_score": 0.3}}
    assert u.cell == by[(1, "test@0.5")].cell != by[(0, "test@0")].cell
    assert u.adapted_key == records[2]["key"] and result.n_records == 4


def test_join_ignores_providers_and_normalises_params() -> None:
    dann = record("dann", params={"lambda_max": 1})
    dann["spec"]["shift"][0]["code"] = "other-code"
    joined = join_units([record("source_only"), dann], "dann", method_params={"lambda_max": "1.0"})
    assert len(joined.units) == 2


def test_join_variants_need_method_params() -> None:
    records = [
        record("source_only"),
        record("dann", target=0.7, params={"lambda_max": 1.0}),
        record("dann", target=0.8, params={"lambda_max": 0.1}),
    ]
    with pytest.raises(SpecError, match=r"lambda_max=0\.1; lambda_max=1.*--method-params"):
        join_units(records, "dann")
    picked = join_units(records, "dann", method_params={"lambda_max": "0.1"})
    assert {u.adapted_key for u in picked.units} == {records[2]["key"]}
    assert [u.adapted_score for u in picked.units if u.domain == "test@0.5"] == [0.8]


def test_join_notes_what_it_left_out() -> None:
    failed = record("source_only", seed=5, status="failed", key="f" * 64)
    no_bp = record("source_only", seed=2, bp=False, key="b" * 64)
    lonely = record("source_only", seed=3, key="c" * 64)
    result = join_units([failed, no_bp, lonely, record("source_only"), record("dann")], "dann")
    assert len(result.units) == 2
    text = " ".join(result.notes)
    assert "1 failed source_only record(s) left out: ffffffffffff" in text
    assert "have no benefit_predictors" in text and "bbbbbbbbbbbb" in text
    assert "have no matching dann record" in text and "cccccccccccc" in text


def test_join_natural_pair_and_domain_without_metric() -> None:
    so, m = record("source_only"), record("dann")
    for rec in (so, m):
        rec["spec"]["shift"], rec["spec"]["target"] = [], _ref("usps")
    del m["metrics"]["test@0"]
    result = join_units([so, m], "dann")
    assert [u.family for u in result.units] == ["natural"]
    assert any("no finite primary metric" in n and "@test@0" in n for n in result.notes)
    other = copy.deepcopy(so)
    other["spec"]["metrics"] = other["spec"]["metrics"][::-1]  # primary macro_f1: no longer the same setting
    assert join_units([other, m], "dann").units == []


def test_held_out_predictions_stay_within_the_metric_bounds() -> None:
    """A line fitted on families with small signals must not extrapolate a far-away held-out unit past [0, 1]."""
    units = [
        make_unit(f, c, 0, 0.1 * s, {"p": {"shift_score": s}}, realised=0.9 - 0.5 * s)
        for f in ("a", "b", "c")
        for c, s in enumerate((0.0, 0.1, 0.2))
    ]
    units += [make_unit("far", c, 0, 0.5, {"p": {"shift_score": 40.0 + c}}, realised=0.1) for c in range(3)]
    ev = evaluate(units, {"p": LINEAR}, scheme="leave_one_shift_family_out", n_boot=10)
    far = [p for p in ev.result("p").points if p.family == "far"]
    assert far and all(p.predicted_target == 0.0 for p in far)  # the line says -19.1: clipped to the bound
    assert all(-1.0 <= p.predicted_benefit <= 1.0 for p in ev.result("p").points)
