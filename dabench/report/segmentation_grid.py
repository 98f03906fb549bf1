"""A picture of a segmentation run: for a few test images, the image, its ground truth and each predictor's mask.

One row per image; columns: the image (grey or RGB), the ground-truth mask, then one column per prediction in the
order given (``dabench run --examples``: "unadapted", then "adapted"). Masks use one fixed palette: background black,
class 1 white when there are two classes, distinct colours for more. Each prediction panel's title gives its
foreground Dice on that image (classes 1 .. C-1 pooled), so the all-white / all-black failure of an unadapted model
under a brightness shift (Stenger et al. 2023, shared/papers/batchnorm-adaptation-fibsem-segmentation) reads at a
glance next to the adapted one.

The PNG is drawn like :mod:`dabench.report.figures` (Agg canvas, no pyplot, house fonts and DPI) and carries no
software tag or date: the same inputs give the same bytes with the same matplotlib version.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dabench.errors import SpecError
from dabench.report.figures import DPI, LABEL_SIZE, LEGEND_SIZE, TITLE_SIZE, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANEL_INCHES = 1.6
"""Width and height of one panel."""
MULTICLASS_COLOURS = (
    "tab:red",
    "tab:green",
    "tab:blue",
    "tab:orange",
    "tab:purple",
    "tab:cyan",
    "tab:pink",
    "tab:olive",
    "tab:brown",
    "tab:gray",
)
"""Colours of classes 1, 2, ... when there are more than two classes (cycled beyond ten)."""


def palette(num_classes: int) -> np.ndarray:
    """``[C, 3]`` RGB colours in [0, 1] of class ids 0 .. C-1: black background, white foreground for two classes,
    else :data:`MULTICLASS_COLOURS` in order."""
    from matplotlib.colors import to_rgb

    if num_classes <= 2:
        return np.array([(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)])[: max(num_classes, 1)]
    others = [to_rgb(MULTICLASS_COLOURS[i % len(MULTICLASS_COLOURS)]) for i in range(num_classes - 1)]
    return np.array([(0.0, 0.0, 0.0), *others])


def foreground_dice(mask: np.ndarray, prediction: np.ndarray) -> float:
    """Dice of the foreground classes 1 .. C-1 pooled: ``2 Σ_c |T_c ∩ P_c| / Σ_c (|T_c| + |P_c|)``; NaN when neither
    has any foreground."""
    truth, predicted = np.asarray(mask), np.asarray(prediction)
    denominator = int(np.count_nonzero(truth)) + int(np.count_nonzero(predicted))
    if denominator == 0:
        return float("nan")
    return 2.0 * int(np.count_nonzero((truth == predicted) & (truth > 0))) / denominator


def _integer_masks(name: str, values: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != shape:
        raise SpecError(
            f"prediction grid: {name} has shape {array.shape}; expected [K, H, W] = {shape}, one class-id mask per "
            "image (arg-max over the class dimension of [K, C, H, W] scores)."
        )
    if array.dtype.kind not in "biu":
        raise SpecError(f"prediction grid: {name} has dtype {array.dtype}; expected integer class ids.")
    if array.size and int(array.min()) < 0:
        raise SpecError(f"prediction grid: {name} holds negative values ({int(array.min())}); class ids are >= 0.")
    return array.astype(np.int64)


def _checked(
    images: np.ndarray,
    masks: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    class_names: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], int]:
    """The inputs as arrays, and the number of classes; a SpecError on any shape, type or value mismatch."""
    pictures = np.asarray(images, dtype=np.float64)
    if pictures.ndim != 4 or pictures.shape[1] not in (1, 3) or pictures.shape[0] == 0:
        raise SpecError(
            f"prediction grid: images have shape {pictures.shape}; expected [K, C, H, W] with K >= 1 and C = 1 "
            "(grey) or 3 (RGB)."
        )
    if not np.isfinite(pictures).all() or pictures.min() < 0.0 or pictures.max() > 1.0:
        raise SpecError(
            "prediction grid: image values must be finite and in [0, 1] (dabench's float images); got "
            f"{np.nanmin(pictures):.3g} to {np.nanmax(pictures):.3g}. Divide uint8 images by 255."
        )
    shape = (pictures.shape[0], *pictures.shape[2:])
    truth = _integer_masks("masks", masks, shape)
    predicted = {}
    for name, values in predictions.items():
        if not isinstance(name, str) or not name:
            raise SpecError(f"prediction grid: prediction names must be non-empty strings; got {name!r}.")
        predicted[name] = _integer_masks(f"prediction {name!r}", values, shape)
    highest = max(int(a.max()) for a in (truth, *predicted.values()))
    if class_names is None:
        return pictures, truth, predicted, max(2, highest + 1)
    if len(class_names) < 1 or highest >= len(class_names):
        raise SpecError(
            f"prediction grid: the masks hold class id {highest} but {len(class_names)} class_names are given "
            f"({', '.join(class_names)}); give one name per class id 0 .. {highest}."
        )
    return pictures, truth, predicted, len(class_names)


def _legend(fig: Figure, colours: np.ndarray, class_names: Sequence[str] | None) -> None:
    from matplotlib.patches import Patch

    names = list(class_names) if class_names is not None else [f"class {i}" for i in range(len(colours))]
    handles = [Patch(facecolor=colours[i], edgecolor="0.5", label=name) for i, name in enumerate(names)]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=LEGEND_SIZE)


def write_prediction_grid(
    path: Path,
    images: np.ndarray,
    masks: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    title: str = "",
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write the grid PNG to ``path`` (creating its folder) and return ``path``.

    ``images`` are ``[K, C, H, W]`` floats in [0, 1] (C = 1 or 3), ``masks`` ``[K, H, W]`` class ids, and
    ``predictions`` maps a column name to ``[K, H, W]`` class ids (columns in mapping order). ``class_names`` (one per
    class id) add a legend and fix the number of classes; without them it is the highest id + 1 (at least 2).
    """
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise SpecError(f"prediction grid: {target} must name a .png file.")
    pictures, truth, predicted, num_classes = _checked(images, masks, predictions, class_names)
    colours = palette(num_classes)
    rows, columns = len(pictures), 2 + len(predicted)
    legend = class_names is not None or num_classes > 2
    width = columns * PANEL_INCHES
    # wrap the title to the figure's width (about 0.6 em per character), long words (paths) included
    lines = textwrap.wrap(title, width=max(16, int(width * 72 / (0.6 * TITLE_SIZE)))) if title else []
    height = rows * PANEL_INCHES + 0.2 * len(lines) + (0.1 if lines else 0.0) + (0.35 if legend else 0.0)
    fig = new_figure((width, height))
    axes = fig.subplots(rows, columns, squeeze=False)
    for row in range(rows):
        image = pictures[row]
        if image.shape[0] == 1:
            axes[row, 0].imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            axes[row, 0].imshow(image.transpose(1, 2, 0), interpolation="nearest")
        axes[row, 1].imshow(colours[truth[row]], interpolation="nearest")
        for column, (name, masks_of) in enumerate(predicted.items(), start=2):
            axes[row, column].imshow(colours[masks_of[row]], interpolation="nearest")
            dice = foreground_dice(truth[row], masks_of[row])
            shown = "n/a" if np.isnan(dice) else f"{dice:.2f}"
            axes[row, column].set_title(f"{name}\nDice {shown}", fontsize=LABEL_SIZE)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=LABEL_SIZE)
    axes[0, 1].set_title("ground truth", fontsize=LABEL_SIZE)
    if lines:
        fig.suptitle("\n".join(lines), fontsize=TITLE_SIZE)
    if legend:
        _legend(fig, colours, class_names)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=DPI, metadata={"Software": None})
    return target
