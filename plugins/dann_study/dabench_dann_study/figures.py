"""Figures of the DANN paper's analysis: accuracy curves (Fig. 5a/7a), gain heat map and surface (Fig. 5b/c,
7b/c), per-domain box plots (Fig. 9). Every function writes ``<path_stem>.png`` and ``<path_stem>.svg``
reproducibly (:mod:`dabench.report.figures`) and returns both paths.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt): Fig. 5a/7a
(accuracy vs test-shift intensity, one curve per DA dataset, DA intensity equal to the test intensity), Fig. 5b/c
and 7b/c (gain over test and DA intensity), Fig. 9 (box plots per colour domain: blue no DA, green DA with the same
semantics, red DA with other semantics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
from dabench.stats.fitting import FitResult
from dabench_dann_study.curves import Curve
from dabench_dann_study.decomposition import Decomposition
from dabench_dann_study.domain_groups import NO_DA, OTHER, SAME
from dabench_dann_study.fits import gaussian_quadratic

KIND_COLOURS = {NO_DA: "tab:blue", SAME: "tab:green", OTHER: "tab:red"}
"""Fig. 9's colours: blue without DA, green DA of the same semantics, red DA of other semantics."""
EXTRA_COLOURS = tuple(c for c in COLOURS if c not in KIND_COLOURS.values())


def plot_accuracy_curves(
    curves: Mapping[str, Curve],
    path_stem: str | Path,
    *,
    metric: str = "accuracy",
    dataset: str = "",
    test_shift: str = "",
    title: str | None = None,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> tuple[Path, Path]:
    """Score vs test-shift intensity, one line with a 95% band per curve (bands clipped to ``bounds``); controls
    are dashed."""
    fig = new_figure((6.4, 4.4))
    ax = fig.add_subplot()
    for label, (x, mean, low, high) in curves.items():
        band(ax, x, mean, low, high, label=label, bounds=bounds, linestyle="--" if "control" in label else "-")
    default = f"{metric} on {dataset or 'the test set'} vs test shift; one curve per DA dataset (95% bands)"
    xlabel = f"test shift intensity ({test_shift})" if test_shift else "test shift intensity"
    style_axes(ax, xlabel=xlabel, ylabel=metric, title=title or default)
    return save_figure(fig, path_stem)


def _gain_title(d: Decomposition) -> str:
    return f"Gain in {d.metric}: {d.method_label} on {d.dataset}, DA dataset {d.da_dataset} ({d.da_shift})"


def plot_gain_heatmap(decomposition: Decomposition, path_stem: str | Path) -> tuple[Path, Path]:
    """Mean gain as a heat map over (test intensity, DA intensity); the largest gain is starred."""
    d = decomposition
    gain = np.asarray(d.gain.value, dtype=float)
    fig = new_figure((6.4, 4.8))
    ax = fig.add_subplot()
    bound = float(np.nanmax(np.abs(gain))) if np.isfinite(gain).any() else 1.0
    image = ax.imshow(gain.T, origin="lower", aspect="auto", cmap="coolwarm", vmin=-bound, vmax=bound or 1.0)
    fig.colorbar(image, ax=ax, label=f"gain ({d.metric})")
    ax.set_xticks(range(d.test_intensities.size), [f"{i:g}" for i in d.test_intensities], fontsize=LEGEND_SIZE)
    ax.set_yticks(range(d.da_intensities.size), [f"{j:g}" for j in d.da_intensities], fontsize=LEGEND_SIZE)
    if gain.size <= 240:
        for (a, b), value in np.ndenumerate(gain):
            if np.isfinite(value):
                ax.text(a, b, f"{value:.2f}", ha="center", va="center", fontsize=5)
    if np.isfinite(gain).any():
        a, b = np.unravel_index(int(np.nanargmax(gain)), gain.shape)
        ax.plot([a], [b], marker="*", markersize=14, markerfacecolor="none", markeredgecolor="black")
    ax.set_xlabel(f"test shift intensity ({d.test_shift})")
    ax.set_ylabel(f"DA shift intensity ({d.da_shift})")
    ax.set_title(_gain_title(d), fontsize=TITLE_SIZE)
    return save_figure(fig, path_stem)


def plot_gain_surface(
    decomposition: Decomposition,
    path_stem: str | Path,
    *,
    fit: FitResult | None = None,
    view: tuple[float, float] = (25.0, -60.0),
) -> tuple[Path, Path]:
    """Mean gain as a 3-D surface over (test intensity, DA intensity); a converged gain ``fit`` is drawn as wires."""
    import mpl_toolkits.mplot3d  # noqa: F401  (registers the "3d" projection)

    d = decomposition
    ii, jj = np.meshgrid(d.test_intensities, d.da_intensities, indexing="ij")
    fig = new_figure((6.4, 5.2))
    ax: Any = fig.add_subplot(projection="3d")
    ax.plot_surface(ii, jj, np.asarray(d.gain.value, dtype=float), cmap="viridis", alpha=0.85, linewidth=0)
    if fit is not None and fit.converged:
        fi, fj = np.meshgrid(np.linspace(ii.min(), ii.max(), 40), np.linspace(jj.min(), jj.max(), 20), indexing="ij")
        fz = gaussian_quadratic(np.vstack([fi.ravel(), fj.ravel()]), **fit.params).reshape(fi.shape)
        ax.plot_wireframe(fi, fj, fz, color="black", linewidth=0.4, rstride=2, cstride=2, label="fit")
        ax.legend(fontsize=LEGEND_SIZE)
    ax.view_init(elev=view[0], azim=view[1])
    ax.set_xlabel(f"test intensity ({d.test_shift})", fontsize=LABEL_SIZE)
    ax.set_ylabel(f"DA intensity ({d.da_shift})", fontsize=LABEL_SIZE)
    ax.set_zlabel(f"gain ({d.metric})", fontsize=LABEL_SIZE)
    ax.set_title(_gain_title(d), fontsize=TITLE_SIZE)
    return save_figure(fig, path_stem)


def group_colours(groups: Sequence[str]) -> dict[str, str]:
    """Fig. 9's colours by arm kind (a group named ``DA same semantics (pbc)`` is green); groups that are not the
    plain arm of their kind (controls, other methods) get the remaining colours in order."""
    colours: dict[str, str] = {}
    extra = iter(EXTRA_COLOURS * (len(groups) // max(len(EXTRA_COLOURS), 1) + 1))
    for group in groups:
        kind = next((k for k in (NO_DA, SAME, OTHER) if group.startswith(k)), None)
        colours[group] = KIND_COLOURS[kind] if kind is not None else next(extra)
    return colours


def plot_domain_boxplots(
    values: Mapping[str, Mapping[str, Sequence[float]]],
    path_stem: str | Path,
    *,
    metric: str = "accuracy",
    dataset: str = "",
    da_datasets: str = "",
    title: str | None = None,
) -> tuple[Path, Path]:
    """Box plots of the score per domain (``values[domain][group]``) in the paper's colours (:func:`group_colours`);
    groups in the order given (:func:`dabench_dann_study.domain_groups.per_domain_groups` gives the paper's)."""
    from matplotlib.patches import Patch

    domains = list(values)
    groups = list(dict.fromkeys(g for by_group in values.values() for g in by_group))
    colours = group_colours(groups)
    width = 0.8 / max(len(groups), 1)
    fig = new_figure((max(6.4, 1.2 * len(domains) + 2), 4.4))
    ax = fig.add_subplot()
    for k, group in enumerate(groups):
        data = [(pos, list(values[dom].get(group, []))) for pos, dom in enumerate(domains)]
        data = [(pos, v) for pos, v in data if len(v)]
        if not data:
            continue
        boxes = ax.boxplot(
            [v for _, v in data],
            positions=[pos - 0.4 + width * (k + 0.5) for pos, _ in data],
            widths=width * 0.9,
            patch_artist=True,
            manage_ticks=False,
            medianprops={"color": "black"},
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(colours[group])
            patch.set_alpha(0.6)
    ax.set_xticks(range(len(domains)), domains, fontsize=LABEL_SIZE)
    ax.set_xlabel("test domain")
    ax.set_ylabel(metric)
    handles = [Patch(facecolor=colours[g], alpha=0.6, label=g) for g in groups]
    ax.legend(handles=handles, fontsize=LEGEND_SIZE)
    suffix = f"; DA datasets: {da_datasets}" if da_datasets else ""
    ax.set_title(title or f"{metric} per domain on {dataset or 'the test set'}{suffix}", fontsize=TITLE_SIZE)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path_stem)
