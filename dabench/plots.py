"""Figures of the DANN paper's analysis: accuracy curves, gain heat map and surface, per-domain box plots.

Every function writes ``<path_stem>.png`` and ``<path_stem>.svg`` (creating the folder) and returns both paths.
matplotlib is imported inside the functions and drawn on an Agg canvas without pyplot (no global figure state);
files are reproducible: the SVG has a fixed ``svg.hashsalt`` and no date, the PNG no software tag, so drawing the same
data twice gives byte-identical files with the same matplotlib version. SVG text stays text (``svg.fonttype`` none):
smaller, searchable files, rendered in the viewer's fonts.

References
----------
The DANN inter-semantic histopathology study
(shared/papers/dann-intersemantic-histopathology.txt): Fig. 5a/7a (accuracy vs test-shift intensity, one curve per DA
dataset), Fig. 5b/c and 7b/c (gain over test and DA intensity), Fig. 9 (box plots per colour domain: no DA, DA with
the same semantics, DA with other semantics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dabench.analysis import Curve, Decomposition, FitResult, gaussian_quadratic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
SVG_HASHSALT = "dabench"
BOX_GROUPS = ("no DA", "DA same semantics", "DA other semantics")
BOX_COLOURS = ("tab:blue", "tab:green", "tab:red", "tab:orange", "tab:purple", "tab:brown")


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path_stem: str | Path) -> tuple[Path, Path]:
    """Write ``<path_stem>.png`` and ``<path_stem>.svg`` reproducibly; returns (png, svg)."""
    import matplotlib

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "none"}):
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None})
    return png, svg


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
    """Score vs test-shift intensity, one line with a 95% band per curve (:func:`dabench.analysis.accuracy_curves`).
    Bands are clipped to the metric's ``bounds``.

    References
    ----------
    DANN study, Fig. 5a/7a: accuracy "as a function of noise intensity. For each curve, DA is trained with a
    different dataset."
    """
    fig = _figure((6.4, 4.4))
    ax = fig.add_subplot()
    for label, (x, mean, low, high) in curves.items():
        keep = np.isfinite(np.asarray(mean, dtype=float))  # a curve may miss some intensities: join the rest
        x, mean, low, high = (np.asarray(a, dtype=float)[keep] for a in (x, mean, low, high))
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
        (line,) = ax.plot(x, mean, marker="o", markersize=3, label=label)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(f"test shift intensity ({test_shift})" if test_shift else "test shift intensity")
    ax.set_ylabel(metric)
    default = f"{metric} on {dataset or 'the test set'} vs test shift; one curve per DA dataset (95% bands)"
    ax.set_title(title or default, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path_stem)


def _gain_title(d: Decomposition) -> str:
    return f"Gain in {d.metric}: {d.method} on {d.dataset}, DA dataset {d.da_dataset} ({d.da_shift})"


def plot_gain_heatmap(decomposition: Decomposition, path_stem: str | Path) -> tuple[Path, Path]:
    """Mean gain as a heat map over (test intensity, DA intensity); the largest gain is starred.

    References
    ----------
    DANN study, Fig. 5b/7b: "Representation of the gain".
    """
    d = decomposition
    gain = np.asarray(d.gain.value, dtype=float)
    fig = _figure((6.4, 4.8))
    ax = fig.add_subplot()
    bound = float(np.nanmax(np.abs(gain))) if np.isfinite(gain).any() else 1.0
    image = ax.imshow(gain.T, origin="lower", aspect="auto", cmap="coolwarm", vmin=-bound, vmax=bound or 1.0)
    fig.colorbar(image, ax=ax, label=f"gain ({d.metric})")
    ax.set_xticks(range(d.test_intensities.size), [f"{i:g}" for i in d.test_intensities], fontsize=7)
    ax.set_yticks(range(d.da_intensities.size), [f"{j:g}" for j in d.da_intensities], fontsize=7)
    if gain.size <= 240:
        for (a, b), value in np.ndenumerate(gain):
            if np.isfinite(value):
                ax.text(a, b, f"{value:.2f}", ha="center", va="center", fontsize=5)
    if np.isfinite(gain).any():
        a, b = np.unravel_index(int(np.nanargmax(gain)), gain.shape)
        ax.plot([a], [b], marker="*", markersize=14, markerfacecolor="none", markeredgecolor="black")
    ax.set_xlabel(f"test shift intensity ({d.test_shift})")
    ax.set_ylabel(f"DA shift intensity ({d.da_shift})")
    ax.set_title(_gain_title(d), fontsize=9)
    return save_figure(fig, path_stem)


def plot_gain_surface(
    decomposition: Decomposition,
    path_stem: str | Path,
    *,
    fit: FitResult | None = None,
    view: tuple[float, float] = (25.0, -60.0),
) -> tuple[Path, Path]:
    """Mean gain as a 3-D surface over (test intensity, DA intensity); a converged gain ``fit`` is drawn as wires.

    References
    ----------
    DANN study, Fig. 5b/c and Fig. 4d: the gain "according to both test shift intensity and DA shift intensity".
    """
    import mpl_toolkits.mplot3d  # noqa: F401  (registers the "3d" projection)

    d = decomposition
    ii, jj = np.meshgrid(d.test_intensities, d.da_intensities, indexing="ij")
    fig = _figure((6.4, 5.2))
    ax: Any = fig.add_subplot(projection="3d")
    ax.plot_surface(ii, jj, np.asarray(d.gain.value, dtype=float), cmap="viridis", alpha=0.85, linewidth=0)
    if fit is not None and fit.converged:
        fi, fj = np.meshgrid(np.linspace(ii.min(), ii.max(), 40), np.linspace(jj.min(), jj.max(), 20), indexing="ij")
        fz = gaussian_quadratic(np.vstack([fi.ravel(), fj.ravel()]), **fit.params).reshape(fi.shape)
        ax.plot_wireframe(fi, fj, fz, color="black", linewidth=0.4, rstride=2, cstride=2, label="fit")
        ax.legend(fontsize=7)
    ax.view_init(elev=view[0], azim=view[1])
    ax.set_xlabel(f"test intensity ({d.test_shift})", fontsize=8)
    ax.set_ylabel(f"DA intensity ({d.da_shift})", fontsize=8)
    ax.set_zlabel(f"gain ({d.metric})", fontsize=8)
    ax.set_title(_gain_title(d), fontsize=9)
    return save_figure(fig, path_stem)


def plot_domain_boxplots(
    values: Mapping[str, Mapping[str, Sequence[float]]],
    path_stem: str | Path,
    *,
    metric: str = "accuracy",
    dataset: str = "",
    da_datasets: str = "",
    title: str | None = None,
) -> tuple[Path, Path]:
    """Box plots of the score per domain (``values[domain][group]``), grouped "no DA" / "DA same semantics" /
    "DA other semantics" (blue, green, red as in the paper; other groups follow in sorted order).

    References
    ----------
    DANN study, Fig. 9: "Box plot of the accuracy in different domains".
    """
    from matplotlib.patches import Patch

    domains = list(values)
    present = {g for groups in values.values() for g in groups}
    groups = [g for g in BOX_GROUPS if g in present] + sorted(present - set(BOX_GROUPS))
    width = 0.8 / max(len(groups), 1)
    fig = _figure((max(6.4, 1.2 * len(domains) + 2), 4.4))
    ax = fig.add_subplot()
    for k, group in enumerate(groups):
        colour = BOX_COLOURS[k % len(BOX_COLOURS)]
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
            patch.set_facecolor(colour)
            patch.set_alpha(0.6)
    ax.set_xticks(range(len(domains)), domains, fontsize=8)
    ax.set_xlabel("test domain")
    ax.set_ylabel(metric)
    handles = [Patch(facecolor=BOX_COLOURS[k % len(BOX_COLOURS)], alpha=0.6, label=g) for k, g in enumerate(groups)]
    ax.legend(handles=handles, fontsize=7)
    suffix = f"; DA datasets: {da_datasets}" if da_datasets else ""
    ax.set_title(title or f"{metric} per domain on {dataset or 'the test set'}{suffix}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path_stem)
