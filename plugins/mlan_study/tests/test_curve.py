"""The study's training-curve analysis: epochs aligned by G updates, tail mean / sd / trend, Δ tail vs Origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dabench.studyspecs import AnalysisContext
from dabench_mlan_study.curve import analyse, applies, describe, summarise, trajectory

L1, L2 = {"name": "wbc_zheng_seg", "domain": "lab1"}, {"name": "wbc_zheng_seg", "domain": "lab2"}


def record(disc: str, seed: int, curve: list[float], *, data: Any = L1) -> Any:
    """An mlan record whose epoch checkpoints have the target Dice ``curve`` (4 / 1 / len(curve) epochs)."""
    offset = 4 if disc == "none" else 5

    def entry(k: int, v: float) -> dict[str, Any]:
        return {"label": f"epoch {k}", "epoch": k, "domains": {"target": {"metrics": {"dice": {"value": v}}}}}

    entries = [entry(offset + k, v) for k, v in enumerate(curve, start=1)]
    entries.append({**entries[-1], "label": "final"})
    return {
        "status": "ok",
        "spec": {
            "protocol": "foreground_uda",
            "method": {"name": "mlan"},
            "params": {"discriminators": disc, "g_epochs": 4, "d_epochs": 1, "adv_epochs": len(curve)},
            "dataset": data,
            "target": L2,
            "seed": seed,
        },
        "metrics": {"target": {"dice": {"value": curve[-1]}}},
        "checkpoints": {"entries": entries},
    }


def test_epochs_are_counted_past_the_stages_before_the_adversarial_one() -> None:
    origin, sed = record("none", 0, [0.5, 0.6]), record("sed", 0, [0.4, 0.7])
    assert trajectory(origin) == [(1, 0.5), (2, 0.6)]  # g_epochs = 4 before the first checkpoint
    assert trajectory(sed) == [(1, 0.4), (2, 0.7)]  # g_epochs + d_epochs = 5; "final" left out


def test_tail_is_the_last_quarter_and_trend_compares_it_with_the_quarter_before() -> None:
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    d = describe(list(enumerate(values, start=1)))
    assert d["tail_epochs"] == 2
    assert d["tail_mean"] == pytest.approx(0.75) and d["trend"] == pytest.approx(0.75 - 0.55)
    assert d["tail_sd"] == pytest.approx(0.0707107, rel=1e-5)
    assert d["last"] == 0.8 and d["best"] == 0.8 and d["best_epoch"] == 8
    odd = describe(list(enumerate([0.9, 0.1, 0.2, 0.3, 0.4], start=1)))  # ⌈5 / 4⌉ = 2 epochs
    assert odd["tail_mean"] == pytest.approx(0.35) and odd["best_epoch"] == 1


def test_tail_delta_is_per_seed_against_the_same_seeds_origin() -> None:
    records = [
        record("none", 0, [0.7, 0.7, 0.7, 0.7]),
        record("none", 1, [0.6, 0.6, 0.6, 0.6]),
        record("sed", 0, [0.5, 0.6, 0.8, 0.9]),
        record("sed", 1, [0.6, 0.6, 0.5, 0.7]),
        record("none", 0, [0.9, 0.9, 0.9, 0.9], data=L2),
        {"status": "failed", "spec": {}},
    ]
    (section,) = summarise(records)["sections"]
    assert section["section"].endswith("(4 / 1 / 4 epochs)")
    rows = {r["variant"]: r for r in section["rows"]}
    assert list(rows) == ["uda/none", "trained on target", "uda/sed"]
    sed = rows["uda/sed"]
    assert sed["tail_delta_per_seed"] == {0: pytest.approx(0.2), 1: pytest.approx(0.1)}  # 0.9 - 0.7; 0.7 - 0.6
    assert sed["tail_delta"] == pytest.approx(0.15) and sed["tail_delta_low"] < 0.15 < sed["tail_delta_high"]
    assert sed["curve"] == {"epochs": [1, 2, 3, 4], "mean": pytest.approx([0.55, 0.6, 0.65, 0.8])}
    assert "tail_delta" not in rows["uda/none"] and "tail_delta" not in rows["trained on target"]


def test_analysis_writes_table_json_and_figure(tmp_path: Path) -> None:
    records = [record("none", 0, [0.7, 0.72, 0.71, 0.7]), record("sed", 0, [0.6, 0.8, 0.75, 0.78])]
    assert applies(records)
    assert not applies([{**records[0], "checkpoints": {"entries": []}}])
    written = analyse(records, tmp_path, AnalysisContext(command="dabench analyze --store S --out O"))
    assert {p.name for p in written} == {"curve.md", "curve.json", "curve.png", "curve.svg"}
    text = (tmp_path / "curve.md").read_text()
    assert "| UDA-sed (the paper's method) | 1 | 4 | 0.780 | 1 | 0.780 |" in text
    assert "0: +0.080" in text
