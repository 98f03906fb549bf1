"""The paper's figures (Fig. 5a/7a curves, 5b/c gain heat map and surface) are written as PNG + reproducible SVG."""

from __future__ import annotations

from pathlib import Path

import pytest
from study_records import records

from dabench_dann_study.curves import accuracy_curves
from dabench_dann_study.decomposition import Decomposition, decompose
from dabench_dann_study.figures import plot_accuracy_curves, plot_gain_heatmap, plot_gain_surface
from dabench_dann_study.fits import fit_gain


@pytest.fixture(scope="module")
def decomposition() -> Decomposition:
    (d,) = decompose(records(n_seeds=2))
    return d


def _check(paths: tuple[Path, Path], stem: Path) -> None:
    png, svg = paths
    assert (png, svg) == (stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "dc:date" not in text


def test_accuracy_curves_plot(tmp_path: Path, decomposition: Decomposition) -> None:
    curves = accuracy_curves([decomposition])
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
    fit = fit_gain(decomposition)
    surface = plot_gain_surface(decomposition, tmp_path / "surface", fit=fit)
    _check(surface, tmp_path / "surface")
    first = surface[1].read_bytes()
    assert plot_gain_surface(decomposition, tmp_path / "surface", fit=fit)[1].read_bytes() == first
