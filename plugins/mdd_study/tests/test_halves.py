"""The halves analysis: gap per seed with the replicates' interval, over seeds, and the tolerance verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dabench.studyspecs import AnalysisContext
from dabench_mdd_study.halves import analyse, applies, summarise


def _record(method: str, seed: int, adapt: float, test: float, spread: float = 0.01) -> dict[str, Any]:
    rng = np.random.default_rng(seed)

    def score(value: float) -> dict[str, Any]:
        return {"value": value, "paired": list(value + spread * rng.standard_normal(200))}

    return {
        "status": "ok",
        "spec": {
            "protocol": "target_halves",
            "seed": seed,
            "method": {"name": method},
            "target": {"name": "wbc_zheng", "domain": "lab2"},
            "params": {"epochs": 5},
            "metrics": [{"name": "macro_f1"}],
        },
        "metrics": {"target": {"macro_f1": score(test)}, "target_adapt": {"macro_f1": score(adapt)}},
    }


def test_gaps_per_seed_and_over_seeds() -> None:
    records = [_record("mdd", s, 0.5 + 0.01 * s, 0.48) for s in range(3)] + [_record("adabn", 0, 0.7, 0.5)]
    rows = {r["method"]: r for r in summarise(records, "macro_f1")}
    mdd = rows["mdd (5 epochs)"]
    assert [s["gap"] for s in mdd["seeds"]] == pytest.approx([0.02, 0.03, 0.04])
    assert mdd["mean_gap"] == pytest.approx(0.03)
    assert mdd["gap_low"] < 0.03 < mdd["gap_high"]
    assert mdd["within"] is True
    assert mdd["seeds"][0]["low"] < 0.02 < mdd["seeds"][0]["high"]
    adabn = rows["adabn (5 epochs)"]
    assert adabn["within"] is False  # a 0.2 gap exceeds the paper's tolerance
    assert np.isnan(adabn["gap_low"])  # one seed: no interval over seeds


def test_failed_runs_and_other_protocols_are_left_out(tmp_path: Path) -> None:
    failed = {**_record("mdd", 0, 0.5, 0.5), "status": "failed"}
    other = _record("mdd", 1, 0.5, 0.5)
    other["spec"]["protocol"] = "uda"
    assert not applies([failed, other])
    assert applies([_record("mdd", 2, 0.5, 0.4)])
    written = analyse([failed, other, _record("mdd", 2, 0.5, 0.4)], tmp_path, AnalysisContext(command="x"))
    doc = json.loads(written[1].read_text())
    assert [len(c["seeds"]) for c in doc["configurations"]] == [1]
    assert "| mdd (5 epochs) | wbc_zheng:lab2 | 1 |" in written[0].read_text()
