"""The study's analysis: pairs (internal / external / adapted / ceiling), salvage, strategies, domain spread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dabench.studyspecs import AnalysisContext
from dabench_stargan_study.deployment import analyse, applies, summarise


def rec(protocol: str, dataset: str, target: str | None, iters: int, scores: dict[str, float], **extra: Any) -> Any:
    return {
        "status": "ok",
        "spec": {
            "protocol": protocol,
            "method": {"name": "stargan"},
            "params": {"gan_iters": iters},
            "dataset": {"name": "digits3", "domain": dataset},
            "target": {"name": "digits3", "domain": target} if target else None,
            "seed": 0,
        },
        "metrics": {d: {"auc": {"value": v, "low": v - 0.01, "high": v + 0.01}} for d, v in scores.items()},
        **extra,
    }


def records() -> list[Any]:
    training = {"semantic_retention": 0.95, "gan_losses": {"d_adv": [1.0, -0.5], "g_cyc": [0.4, 0.1]}}
    return [
        rec("digit_pairs", "mnist", "usps", 0, {"source": 0.99, "target": 0.80}),
        rec("digit_pairs", "mnist", "usps", 100, {"source": 0.98, "target": 0.90}, training=training),
        rec("digit_pairs", "usps", "usps", 0, {"source": 0.97, "target": 0.97}),
        rec("digit_pairs", "usps", "mnist", 0, {"source": 0.97, "target": 0.70}),
        rec("digit_pairs", "usps", "mnist", 100, {"source": 0.96, "target": 0.71}),
        *(
            rec("digit_global", f"pooled,fraction={f}", None, 0, {"mnist": m, "usps": u, "mnist_m": mm, "pooled": p})
            for f, m, u, mm, p in ((0.001, 0.8, 0.6, 0.5, 0.65), (1.0, 0.99, 0.98, 0.97, 0.98))
        ),
    ]


def test_pairs_salvage_and_separation() -> None:
    summary = summarise(records())
    pairs = {(p["source"], p["target"]): p for p in summary["pairs"]}
    mu = pairs[("mnist", "usps")]
    assert mu["salvage"] == pytest.approx((0.90 - 0.80) / (0.99 - 0.80))
    assert mu["separated"] is True and mu["ceiling"]["value"] == 0.97
    assert mu["semantic_retention"] == 0.95 and mu["gan_losses_final"] == {"d_adv": -0.5, "g_cyc": 0.1}
    um = pairs[("usps", "mnist")]
    assert um["separated"] is False and um["ceiling"] is None  # overlapping intervals; no mnist-trained model
    assert mu["external_retention"] is None  # the records carry no accuracy
    with_accuracy = records()
    with_accuracy[0]["metrics"]["source"]["accuracy"] = {"value": 0.98}
    with_accuracy[0]["metrics"]["target"]["accuracy"] = {"value": 0.49}
    mu = next(p for p in summarise(with_accuracy)["pairs"] if p["target"] == "usps")
    assert mu["external_retention"] == pytest.approx(0.5)
    assert summary["salvage_median"] == pytest.approx((mu["salvage"] + um["salvage"]) / 2)


def test_strategies_and_domain_spread() -> None:
    summary = summarise(records())
    usps = next(s for s in summary["strategies"] if s["target"] == "usps")
    assert (usps["local"], usps["bespoke"], usps["global"], usps["adapted"]) == (0.80, 0.97, 0.98, 0.90)
    spread = {row["fraction"]: row for row in summary["domain_spread"]}
    small = [80.0, 60.0, 50.0]
    mean = sum(small) / 3
    assert spread[0.001]["spread"] == pytest.approx(sum((v - mean) ** 2 for v in small) / 3)
    assert spread[1.0]["spread"] < spread[0.001]["spread"] and spread[0.001]["paper_spread"] == 112.06


def test_files_and_what_is_ignored(tmp_path: Path) -> None:
    other = rec("digit_pairs", "mnist", "usps", 0, {"source": 0.5})
    other["spec"]["method"]["name"] = "source_only"
    assert not applies([other]) and applies(records())
    written = analyse([other, *records()], tmp_path, AnalysisContext(command="dabench analyze"))
    names = sorted(p.name for p in written)
    assert names == ["deployment.json", "deployment.md", "domain_spread.png", "domain_spread.svg"]
    doc = json.loads((tmp_path / "deployment.json").read_text())
    assert len(doc["pairs"]) == 2
    text = (tmp_path / "deployment.md").read_text()
    assert "| mnist → usps | 99.00 [98.00, 100.00] | 80.00 [79.00, 81.00] | 90.00" in text and "83.16 %" in text


def test_budget_curve_reports_every_budget_and_the_late_loss_movement(tmp_path: Path) -> None:
    history = {
        "iteration": [10.0, 20.0, 30.0, 40.0],
        "d_adversarial": [-8.0, -6.0, -4.0, -3.0],
        "g_cycle": [1, 1, 1, 1],
    }
    short = rec("digit_pairs", "mnist", "usps", 40, {"target": 0.75}, training={"gan_losses": history})
    recs = [*records(), short]
    summary = summarise(recs)
    mu = next(p for p in summary["pairs"] if (p["source"], p["target"]) == ("mnist", "usps"))
    assert mu["gan_iters"] == 100 and mu["adapted"]["value"] == 0.90  # the largest budget is the pair's row
    points = mu["budget_curve"]
    assert [pt["gan_iters"] for pt in points] == [40, 100]
    assert points[0]["delta_vs_external"] == pytest.approx(-0.05) and points[0]["separated"] is False
    assert points[1]["separated"] is True and points[1]["semantic_retention"] == 0.95
    moved = points[0]["late_movement"]
    assert moved["d_adversarial"] == {"half": -6.0, "end": -3.0, "change": pytest.approx(0.5)}  # first window ≥ 20
    assert moved["g_cycle"]["change"] == 0.0 and "g_semantic" not in moved
    written = analyse(recs, tmp_path, AnalysisContext(command="dabench analyze"))
    assert "budget_curve.png" in {p.name for p in written}
    text = (tmp_path / "deployment.md").read_text()
    assert (
        "## Budget curve" in text
        and "| mnist → usps | 40 | 75.00 [74.00, 76.00] | 80.00 [79.00, 81.00] | -5.00 | no" in text
    )
    assert "-6 → -3 (+50 %)" in text


def test_accuracy_is_reported_beside_auc(tmp_path: Path) -> None:
    recs = records()
    recs[0]["metrics"]["target"]["accuracy"] = {"value": 0.70, "low": 0.68, "high": 0.72}
    recs[1]["metrics"]["target"]["accuracy"] = {"value": 0.80, "low": 0.78, "high": 0.82}
    mu = next(p for p in summarise(recs)["pairs"] if (p["source"], p["target"]) == ("mnist", "usps"))
    assert mu["accuracy"]["delta"] == pytest.approx(0.10) and mu["accuracy"]["separated"] is True
    um = next(p for p in summarise(recs)["pairs"] if (p["source"], p["target"]) == ("usps", "mnist"))
    assert um["accuracy"] is None  # no record of that pair has accuracy
    analyse(recs, tmp_path, AnalysisContext(command="dabench analyze"))
    text = (tmp_path / "deployment.md").read_text()
    assert "| mnist → usps | 70.00 [68.00, 72.00] | 80.00 [78.00, 82.00] | +10.00 | yes |" in text
