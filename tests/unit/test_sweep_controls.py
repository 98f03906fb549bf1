"""The committed DANN sweeps (issue 9): every one has a ``lambda_max = 0`` control row with the same DA data, the
noise study a 6-value DA grid, the blur study's "no DA" is k = 1, and the PBC study's other-semantics DA data is not
blood cells."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from dabench.run.sweepfile import load_sweep

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
STUDIES = ("dann_mnist_noise", "dann_mnist_blur", "dann_pbc_colour")
REAL = ("real_pairs", "blood_cells")
RUNS = {"dann_mnist_noise": 69, "dann_mnist_blur": 42, "dann_pbc_colour": 30, "real_pairs": 10, "blood_cells": 15}


def _grids(name: str) -> list[dict[str, Any]]:
    data = tomllib.loads((SWEEPS / f"{name}.toml").read_text(encoding="utf-8"))
    return data["grid"] if isinstance(data["grid"], list) else [data["grid"]]


def _arm(grid: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(dataset or target, DA dataset, DA shift) combinations of a DANN grid."""
    datasets = grid.get("target") or grid["dataset"]
    return {
        (d, da, shift)
        for d in datasets
        for da in grid.get("da_dataset", ["-"])
        for shift in grid.get("da_shift", ["-"])
    }


@pytest.mark.parametrize("name", STUDIES + REAL)
def test_every_dann_arm_has_a_control_with_the_same_da_data(name: str) -> None:
    grids = [g for g in _grids(name) if "dann" in g["method"]]
    controls = [g for g in grids if g.get("params", {}).get("lambda_max") == [0.0]]
    adversarial = [g for g in grids if g not in controls]
    assert controls and adversarial
    assert all(g["method"] == ["dann"] and set(g["params"]) == {"lambda_max"} for g in controls)
    control_data = {(d, da) for g in controls for d, da, _ in _arm(g)}
    assert {(d, da) for g in adversarial for d, da, _ in _arm(g)} == control_data  # every DA dataset, every target
    control_shifts = {s for g in controls for *_, s in _arm(g)}
    assert control_shifts <= {s for g in adversarial for *_, s in _arm(g)}  # at DA shifts DANN runs at


def test_noise_da_grid_has_six_intensities_and_blur_no_da_is_k1() -> None:
    noise = next(g for g in _grids("dann_mnist_noise") if "dann" in g["method"] and "params" not in g)
    assert noise["da_shift"] == ["none", "noise:0.2", "noise:0.4", "noise:0.6", "noise:0.8", "noise:1"]
    blur = next(g for g in _grids("dann_mnist_blur") if "dann" in g["method"] and "params" not in g)
    assert blur["da_shift"][0] == "blur:1" and "none" not in blur["da_shift"]


def test_pbc_other_semantics_is_not_blood_cells() -> None:
    das = {da for g in _grids("dann_pbc_colour") for da in g.get("da_dataset", [])}
    assert das == {"pbc", "mnist_m"}


@pytest.mark.parametrize("name", STUDIES + REAL)
def test_run_counts_match_the_stated_budget(name: str, registry) -> None:  # type: ignore[no-untyped-def]
    if "dann4" in (SWEEPS / f"{name}.toml").read_text() and "dann4" not in registry.protocols.names():
        pytest.skip("the DANN study's protocol plugin (dann4) is not installed")
    sweep = load_sweep(SWEEPS / f"{name}.toml", registry)
    assert len(sweep.specs) == RUNS[name]
    assert f"{RUNS[name]} runs" in (SWEEPS / f"{name}.toml").read_text()
    controls = [s for s in sweep.specs if s.method.name == "dann" and s.params["lambda_max"] == 0.0]
    assert controls and all(s.params["bn_mode"] == "per_domain" for s in controls)
