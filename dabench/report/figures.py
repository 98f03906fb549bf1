"""Figure style and reproducible PNG + SVG files, for the figures a study's analysis publishes.

Figures are drawn on an Agg canvas without pyplot (no global figure state, safe in worker processes) and matplotlib
is imported inside the functions (importing this module is cheap). Files are reproducible: the SVG has a fixed
``svg.hashsalt`` and no date, the PNG no software tag, so drawing the same data twice gives byte-identical files with
the same matplotlib version. SVG text stays text (``svg.fonttype`` none): smaller, searchable files, rendered in the
viewer's fonts.

Use :func:`new_figure` and :func:`save_figure`; :func:`band` draws a mean curve with its interval clipped to the
metric's bounds (an interval never shows values the metric cannot take).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
SVG_HASHSALT = "dabench"
TITLE_SIZE = 9
LABEL_SIZE = 8
LEGEND_SIZE = 7
BAND_ALPHA = 0.2
GRID_ALPHA = 0.3
COLOURS = ("tab:blue", "tab:green", "tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
"""Colours in the order series are assigned them (matplotlib's tableau palette)."""


def new_figure(size: tuple[float, float]) -> Figure:
    """A matplotlib Figure of ``size`` inches at :data:`DPI` with a constrained layout on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path_stem: str | Path) -> tuple[Path, Path]:
    """Write ``<path_stem>.png`` and ``<path_stem>.svg`` reproducibly (creating the folder; no timestamp, and no
    matplotlib version in either file, so another install writes the same bytes); returns (png, svg). A dot
    in the stem's name is kept (``accuracy_noise_0.5`` gives ``accuracy_noise_0.5.png``)."""
    import matplotlib

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "none"}):
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png, svg


def band(
    ax: Any,
    x: Sequence[float] | np.ndarray,
    mean: Sequence[float] | np.ndarray,
    low: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    *,
    label: str,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    colour: str | None = None,
    linestyle: str = "-",
) -> None:
    """A line with markers through the finite means and a shaded interval clipped to ``bounds``; points with a
    missing mean are left out (the rest are joined)."""
    values = np.asarray(mean, dtype=float)
    keep = np.isfinite(values)
    xs, ms, lo, hi = (np.asarray(a, dtype=float)[keep] for a in (x, mean, low, high))
    lo, hi = np.clip(lo, *bounds), np.clip(hi, *bounds)
    (line,) = ax.plot(xs, ms, marker="o", markersize=3, label=label, color=colour, linestyle=linestyle)
    ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=BAND_ALPHA, linewidth=0)


def style_axes(ax: Any, *, xlabel: str, ylabel: str, title: str, legend: bool = True) -> None:
    """The house style: labelled axes, a small title, a light grid and a small legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=TITLE_SIZE)
    ax.grid(alpha=GRID_ALPHA)
    if legend:
        ax.legend(fontsize=LEGEND_SIZE)
