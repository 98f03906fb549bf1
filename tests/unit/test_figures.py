"""dabench.report.figures: reproducible PNG + SVG files and bands clipped to the metric's bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dabench.report.figures import band, new_figure, save_figure, style_axes


def _draw(path: Path) -> tuple[Path, Path]:
    fig = new_figure((4.0, 3.0))
    ax = fig.add_subplot()
    x = np.array([0.0, 0.5, 1.0, 1.5])
    band(ax, x, [0.9, 0.7, np.nan, 0.2], [0.8, -0.4, 0.0, 0.1], [1.3, 0.9, 0.0, 0.3], label="curve", bounds=(0, 1))
    style_axes(ax, xlabel="intensity", ylabel="accuracy", title="a title")
    return save_figure(fig, path)


def test_files_are_reproducible(tmp_path: Path) -> None:
    png, svg = _draw(tmp_path / "sub" / "fig_0.5")
    assert (png.name, svg.name) == ("fig_0.5.png", "fig_0.5.svg")  # the dot is not taken for a suffix
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert "dc:date" not in text and "a title" in text  # no timestamp; text stays text
    assert "Matplotlib v" not in text  # no library version: the same figure from another install is the same file
    again = _draw(tmp_path / "sub" / "fig_0.5")
    assert again[0].read_bytes() == png.read_bytes() and again[1].read_text() == text


def test_band_clips_to_bounds_and_skips_missing_points() -> None:
    fig = new_figure((4.0, 3.0))
    ax = fig.add_subplot()
    band(ax, [0, 1, 2], [0.9, np.nan, 0.5], [0.5, 0.0, -0.2], [1.4, 0.0, 0.6], label="c", bounds=(0.0, 1.0))
    (line,) = ax.lines
    assert line.get_xdata().tolist() == [0.0, 2.0]  # the missing mean is left out
    (poly,) = ax.collections
    ys = poly.get_paths()[0].vertices[:, 1]
    assert ys.min() >= 0.0 and ys.max() <= 1.0
