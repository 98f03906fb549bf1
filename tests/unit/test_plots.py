"""The paper's figures are written as non-empty PNG and reproducible SVG files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dabench.analysis import Decomposition, accuracy_curves, decompose, fit_gain
from dabench.plots import plot_accuracy_curves, plot_domain_boxplots, plot_gain_heatmap, plot_gain_surface
from tests.unit.test_analysis import _records


@pytest.fixture(scope="module")
def decomposition() -> Decomposition:
    (d,) = decompose(_records(n_seeds=2))
    return d


def _check(paths: tuple[Path, Path], stem: Path) -> None:
    png, svg = paths
    assert (png, svg) == (stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "dc:date" not in text  # no timestamp, so regenerating gives the same file


def test_accuracy_curves_plot(tmp_path: Path) -> None:
    curves = accuracy_curves(_records(n_seeds=2))
    stem = tmp_path / "figs" / "accuracy_noise_0.5"  # the dot must not be taken for a suffix
    paths = plot_accuracy_curves(curves, stem, metric="accuracy", dataset="mnist", test_shift="noise")
    _check(paths, stem)
    svg = paths[1].read_bytes()
    assert all(word in svg.decode() for word in ("accuracy", "mnist", "DA on fashion_mnist", "no DA"))
    png = paths[0].read_bytes()
    plot_accuracy_curves(curves, stem, metric="accuracy", dataset="mnist", test_shift="noise")
    assert paths[1].read_bytes() == svg and paths[0].read_bytes() == png


def test_gain_heatmap_and_surface(tmp_path: Path, decomposition: Decomposition) -> None:
    heat = plot_gain_heatmap(decomposition, tmp_path / "heat")
    _check(heat, tmp_path / "heat")
    first = heat[1].read_bytes()
    assert plot_gain_heatmap(decomposition, tmp_path / "heat")[1].read_bytes() == first
    assert all(word in first.decode() for word in ("accuracy", "mnist", "fashion_mnist", "noise"))
    surface = plot_gain_surface(decomposition, tmp_path / "surface", fit=fit_gain(decomposition))
    _check(surface, tmp_path / "surface")
    first = surface[1].read_bytes()
    assert plot_gain_surface(decomposition, tmp_path / "surface", fit=fit_gain(decomposition))[1].read_bytes() == first


def test_domain_boxplots(tmp_path: Path) -> None:
    values = {
        "domain b": {"no DA": [0.7, 0.72, 0.69], "DA same semantics": [0.8, 0.82], "DA other semantics": [0.79, 0.8]},
        "domain c": {"no DA": [0.6, 0.61], "DA other semantics": [0.75, 0.74, 0.76], "DA | custom": [0.7]},
    }
    stem = tmp_path / "boxes"
    paths = plot_domain_boxplots(values, stem, metric="accuracy", dataset="camelyon", da_datasets="tissuenet")
    _check(paths, stem)
    first = paths[1].read_bytes()
    assert all(word in first.decode() for word in ("camelyon", "tissuenet", "DA same semantics", "domain c"))
    assert plot_domain_boxplots(values, stem, dataset="camelyon", da_datasets="tissuenet")[1].read_bytes() == first
