"""The benefit-predictor leaderboard: markdown table and scatter figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dabench.predictors.heldout import Evaluation, PredictorInfo, evaluate
from dabench.predictors.report import render_markdown, write_scatter
from dabench.predictors.units import Unit


def _units() -> list[Unit]:
    rng = np.random.default_rng(0)
    units = []
    for f in range(3):
        for c in range(4):
            benefit = float(rng.uniform(-0.05, 0.1))
            for seed in range(2):
                key = f"k{f}{c}{seed}"
                units.append(
                    Unit(
                        key=key,
                        domain="target",
                        seed=seed,
                        dataset="digits",
                        family=f"fam{f}",
                        cell=f"c{f}{c}",
                        task_type="classification",
                        metric="accuracy",
                        source_score=0.95,
                        source_value=0.95,
                        estimates="accuracy",
                        realised_score=0.7,
                        adapted_score=0.7 + benefit,
                        benefit=benefit,
                        predictions={
                            "good": {"shift_score": benefit + float(rng.normal(0, 0.002))},
                            "noisy": {"target_score": float(rng.uniform(0.5, 0.9))},
                        },
                        adapted_key=f"m{key}",
                    )
                )
    return units


def _evaluation() -> Evaluation:
    predictors = {
        "good": PredictorInfo("", "linear", "Test A 2026"),
        "noisy": PredictorInfo("accuracy", "gaussian", "Test | B"),
    }
    return evaluate(_units(), predictors, scheme="leave_one_shift_family_out", n_boot=50)


def test_markdown_has_the_table_sorted_by_regret_and_is_deterministic() -> None:
    ev = _evaluation()
    text = render_markdown(ev, title="Predictors: digits", store_label="/s", method="dann", notes=("a note",))
    assert text == render_markdown(ev, title="Predictors: digits", store_label="/s", method="dann", notes=("a note",))
    assert text.startswith("# Predictors: digits\n")
    assert "Oracle regret is 0" in text and "leave one shift family out" in text
    assert "24 units from 48 records; 3 fold(s): fam0, fam1, fam2" in text
    header = next(line for line in text.splitlines() if line.startswith("| predictor"))
    assert [h.strip() for h in header.split("|")[1:-1]] == [
        "predictor", "paper", "estimates", "MAE (pp)", "Spearman ρ [95 % CI]", "AUROC(benefit > ε)", "regret (pp)",
        "units",
    ]  # fmt: skip
    rows = [line for line in text.splitlines() if line.startswith("| good") or line.startswith("| noisy")]
    cells = [[c.strip() for c in row.replace("\\|", "¦").split("|")[1:-1]] for row in rows]
    assert [c[0] for c in cells] == ["good", "noisy"]  # good has the lower regret
    good, noisy = ev.result("good"), ev.result("noisy")
    assert good.regret_pp is not None and noisy.regret_pp is not None and good.regret_pp < noisy.regret_pp
    assert good.spearman is not None and good.spearman_ci is not None and good.mae_pp is not None
    lo, hi = good.spearman_ci
    assert cells[0][1:] == [
        "Test A 2026", "– (calibrated)", f"{good.mae_pp:.2f}", f"{good.spearman:.3f} [{lo:.3f}, {hi:.3f}]",
        f"{good.auroc:.3f}", f"{good.regret_pp:.2f}", "24",
    ]  # fmt: skip
    assert cells[1][1:3] == ["Test ¦ B", "accuracy"]  # a "|" in a paper is escaped, not a new cell
    controls = {c.name: c for c in ev.controls}
    for name in ("always_adapt", "never_adapt"):
        regret = controls[name].regret_pp
        assert regret is not None
        row = next(line for line in text.splitlines() if line.startswith(f"| {name}"))
        assert [c.strip() for c in row.split("|")[1:-1]] == [name, f"{regret:.2f}", "24"]
    assert "- a note" in text


def test_scatter_pngs_written_deterministically(tmp_path: Path) -> None:
    ev = _evaluation()
    paths = write_scatter(ev, tmp_path / "a")
    again = write_scatter(ev, tmp_path / "b")
    assert [p.name for p in paths] == ["good.png", "noisy.png"]
    for first, second in zip(paths, again, strict=True):
        data = first.read_bytes()
        assert data.startswith(b"\x89PNG") and data == second.read_bytes()
