"""The study's analysis: Δ vs Origin paired per seed, over seeds, source drop and the fraction of the gap closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dabench.studyspecs import AnalysisContext
from dabench_mlan_study.gap import analyse, applies, summarise

L1, L2 = {"name": "wbc_zheng_seg", "domain": "lab1"}, {"name": "wbc_zheng_seg", "domain": "lab2"}
NOISE = np.random.default_rng(0).standard_normal(300)  # one resampling per seed, shared by every run: paired


def record(
    disc: str, seed: int, target: float, source: float = 0.9, *, sda: bool = False, data: Any = L1, adv: int = 16
) -> Any:
    def score(v: float) -> dict[str, Any]:
        return {"value": v, "paired": list(v + 0.01 * NOISE + 0.001 * seed)}

    return {
        "status": "ok",
        "spec": {
            "protocol": "foreground_sda" if sda else "foreground_uda",
            "method": {"name": "mlan"},
            "params": {"discriminators": disc, "g_epochs": 4, "d_epochs": 1, "adv_epochs": adv},
            "dataset": data,
            "target": L2,
            "seed": seed,
        },
        "metrics": {"target": {"dice": score(target)}, "source": {"dice": score(source)}},
    }


def records() -> list[Any]:
    rows = []
    for s in range(3):
        rows += [
            record("none", s, 0.60 + 0.01 * s),
            record("sed", s, 0.69 + 0.01 * s, 0.89),
            record("sed", s, 0.72 + 0.01 * s, sda=True),
            record("none", s, 0.80, data=L2),
            record("sf4", s, 0.60 + 0.01 * s + [0.02, -0.02, 0.0][s]),
        ]
    return rows


def test_delta_gap_closed_and_source_drop() -> None:
    pair = summarise(records())["pairs"][0]
    assert pair["pair"] == "wbc_zheng_seg:lab1 → wbc_zheng_seg:lab2 (4 / 1 / 16 epochs)"
    rows = {r["variant"]: r for r in pair["rows"]}
    assert list(rows) == ["uda/none", "trained on target", "uda/sf4", "uda/sed", "sda/sed"]
    sed = rows["uda/sed"]
    assert sed["delta"] == pytest.approx(0.09) and sed["delta_low"] == pytest.approx(0.09)
    assert sed["source_drop"] == pytest.approx(0.01)
    assert sed["gap_closed"] == pytest.approx(0.09 / 0.12)  # (0.70 - 0.61) / (0.73 - 0.61)
    assert sed["gap_closed_vs_target_trained"] == pytest.approx(0.09 / 0.19)
    assert all(s["interval"][0] > 0 for s in sed["per_seed"])  # paired: the shared noise cancels
    sf4 = rows["uda/sf4"]
    assert sf4["delta_low"] < 0 < sf4["delta_high"]  # seed-dependent sign: not significant over seeds
    assert rows["uda/sed"]["paper_gap_closed"] == pytest.approx((87.73 - 78.64) / (90.49 - 78.64))


def test_analysis_files_and_what_it_ignores(tmp_path: Path) -> None:
    other = record("sed", 0, 0.5)
    other["spec"]["method"]["name"] = "source_only"
    failed = {**record("sed", 0, 0.5), "status": "failed"}
    assert not applies([other, failed]) and applies(records())
    md, js = analyse([other, failed, *records()], tmp_path, AnalysisContext(command="dabench analyze"))
    text = md.read_text()
    assert "| UDA-sed (the paper's method) | 3 | 0.700 |" in text and " *" in text
    assert json.loads(js.read_text())["pairs"][0]["origin"] == pytest.approx(0.61)


def test_a_longer_schedule_is_its_own_section_with_its_own_origin() -> None:
    longer = [record("none", 0, 0.50, adv=32), record("sed", 0, 0.65, adv=32)]
    pairs = {p["pair"]: p for p in summarise([*records(), *longer])["pairs"]}
    assert sorted(pairs) == [
        "wbc_zheng_seg:lab1 → wbc_zheng_seg:lab2 (4 / 1 / 16 epochs)",
        "wbc_zheng_seg:lab1 → wbc_zheng_seg:lab2 (4 / 1 / 32 epochs)",
    ]
    probe = pairs["wbc_zheng_seg:lab1 → wbc_zheng_seg:lab2 (4 / 1 / 32 epochs)"]
    rows = {r["variant"]: r for r in probe["rows"]}
    assert list(rows) == ["uda/none", "uda/sed"]  # the 16-epoch target-trained / SDA rows are not borrowed
    assert probe["origin"] == pytest.approx(0.50) and rows["uda/sed"]["delta"] == pytest.approx(0.15)
    main = {r["variant"]: r for r in pairs["wbc_zheng_seg:lab1 → wbc_zheng_seg:lab2 (4 / 1 / 16 epochs)"]["rows"]}
    assert main["uda/sed"]["seeds"] == [0, 1, 2] and main["uda/sed"]["delta"] == pytest.approx(0.09)
