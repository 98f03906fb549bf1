"""The paper's figures from the study's tables: heat maps over (μ1, μ2) of Dice without and with BatchNorm
adaptation and of the gain, per source setting; the gain against each predictor with ρ in the title; Dice against
the shift intensity for the shift grid. Every function writes ``<path_stem>.png`` and ``<path_stem>.svg``
reproducibly (:mod:`dabench.report.figures`) and returns both paths.

References
----------
Stenger A et al. (shared/papers/batchnorm-adaptation-fibsem-segmentation.txt): the (μ1, μ2) maps "when BN
adaptation works / kinda works" and "BN adaptation improvement vs Bhattacharyya".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dabench.report.figures import (
    COLOURS,
    LABEL_SIZE,
    LEGEND_SIZE,
    TITLE_SIZE,
    band,
    new_figure,
    save_figure,
    style_axes,
)
from dabench_bn_study.cells import CellRow, SourceTable
from dabench_bn_study.predictors import Interval, PredictorStudy


def _grid(rows: Sequence[CellRow]) -> tuple[list[float], list[float]]:
    mu1 = sorted({r.position[0] for r in rows})
    mu2 = sorted({r.position[1] for r in rows})
    return mu1, mu2


def _matrix(rows: Sequence[CellRow], mu1: list[float], mu2: list[float], attr: str) -> np.ndarray:
    out = np.full((len(mu2), len(mu1)), np.nan)
    for r in rows:
        value = getattr(r, attr).value
        out[mu2.index(r.position[1]), mu1.index(r.position[0])] = value
    return out


def _fmt(iv: Interval) -> str:
    if not math.isfinite(iv.value):
        return "–"
    return f"{iv.value:.2f} [{iv.low:.2f}, {iv.high:.2f}]"


def plot_heatmaps(table: SourceTable, path_stem: str | Path, *, arm: str) -> tuple[Path, Path]:
    """Three panels over (μ1, μ2): Dice unadapted, Dice adapted, gain. Cells not in the grid (μ1 = μ2) are blank;
    the source setting is marked with a star (at its position between grid values when it is off the grid)."""
    import matplotlib

    rows = table.rows
    mu1, mu2 = _grid(rows)
    panels = (("unadapted", "Dice unadapted", "viridis"), ("adapted", f"Dice adapted ({arm})", "viridis"),
              ("gain", "gain (adapted − unadapted)", "coolwarm"))  # fmt: skip
    fig = new_figure((12.0, 4.0))
    source = table.setting.source
    for k, (attr, label, cmap_name) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        values = _matrix(rows, mu1, mu2, attr)
        cmap = matplotlib.colormaps[cmap_name].with_extremes(bad="0.9")
        if attr == "gain":
            bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
            vmin, vmax = -(bound or 1.0), bound or 1.0
        else:
            vmin, vmax = 0.0, 1.0
        image = ax.imshow(np.ma.masked_invalid(values), origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
        fig.colorbar(image, ax=ax, shrink=0.8)
        for (j, i), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(i, j, f"{value:.2f}", ha="center", va="center", fontsize=6)
        if isinstance(source, tuple) and len(mu1) > 1 and len(mu2) > 1:
            x = float(np.interp(source[0], mu1, range(len(mu1))))
            y = float(np.interp(source[1], mu2, range(len(mu2))))
            ax.plot([x], [y], marker="*", markersize=16, markerfacecolor="none", markeredgecolor="red")
        ax.set_xticks(range(len(mu1)), [f"{v:g}" for v in mu1], fontsize=LEGEND_SIZE)
        ax.set_yticks(range(len(mu2)), [f"{v:g}" for v in mu2], fontsize=LEGEND_SIZE)
        ax.set_xlabel("target μ1 (mask mean)", fontsize=LABEL_SIZE)
        ax.set_ylabel("target μ2 (background mean)", fontsize=LABEL_SIZE)
        ax.set_title(label, fontsize=TITLE_SIZE)
    fig.suptitle(f"Source {table.setting.source_label} (red star), seeds {len(table.setting.seeds)}",
                 fontsize=TITLE_SIZE)  # fmt: skip
    return save_figure(fig, path_stem)


def plot_scatter(
    tables: Sequence[SourceTable], study: PredictorStudy, name: str, path_stem: str | Path
) -> tuple[Path, Path]:
    """Gain (seed mean, with its interval) against the predictor's seed mean, one colour per source setting; the
    title gives the held-out ρ, the legend ρ per setting."""
    result = study.result(name)
    per_setting = result.per_setting if result is not None else {}
    fig = new_figure((6.4, 4.6))
    ax = fig.add_subplot()
    for k, table in enumerate(tables):
        rows = [r for r in table.targets if name in r.diagnostics and math.isfinite(r.gain.value)]
        if not rows:
            continue
        x = np.array([r.diagnostics[name] for r in rows])
        y = np.array([r.gain.value for r in rows])
        low = np.array([r.gain.low for r in rows])
        high = np.array([r.gain.high for r in rows])
        err = np.vstack([np.nan_to_num(y - low), np.nan_to_num(high - y)])
        colour = COLOURS[k % len(COLOURS)]
        source = table.setting.source_label
        label = f"source {source}: ρ = {_fmt(per_setting[source])}" if source in per_setting else f"source {source}"
        ax.errorbar(x, y, yerr=err, fmt="o", markersize=3, color=colour, elinewidth=0.6, capsize=0, label=label)
    title = f"Gain vs {name}; ρ per source setting in the legend"
    if result is not None and study.held_out:
        title += f"\nleave-one-source-setting-out prediction: ρ = {_fmt(result.pooled_rho)}"
    style_axes(ax, xlabel=f"{name} (unadapted model, source test vs target)", ylabel="gain in Dice", title=title)
    ax.axhline(0.0, color="black", linewidth=0.5)
    return save_figure(fig, path_stem)


def plot_shift_grid(table: SourceTable, path_stem: str | Path, *, arm: str) -> tuple[Path, Path]:
    """Dice against the shift intensity, unadapted and adapted, with their 95% bands."""
    rows = sorted(table.rows, key=lambda r: r.position[0])
    x = [r.position[0] for r in rows]
    fig = new_figure((6.4, 4.4))
    ax = fig.add_subplot()
    for attr, label in (("unadapted", "unadapted (source_only)"), ("adapted", f"adapted ({arm})")):
        summaries = [getattr(r, attr) for r in rows]
        band(ax, x, [s.value for s in summaries], [s.low for s in summaries], [s.high for s in summaries],
             label=label, bounds=(0.0, 1.0))  # fmt: skip
    title = f"Dice vs {table.setting.source_label} intensity (95% bands), seeds {len(table.setting.seeds)}"
    style_axes(ax, xlabel=f"{table.setting.source_label} intensity", ylabel="Dice", title=title)
    return save_figure(fig, path_stem)
