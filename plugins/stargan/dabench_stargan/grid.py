"""The translation picture of Valliani et al.'s Fig 2C: images of every domain and their StarGAN translations.

Rows are a few images of each domain (labelled with the domain on the left); the first column is the image, the
others its translation into every domain (its own domain included: what G does to an image it should leave alone).
Drawn on an Agg canvas (:func:`dabench.report.figures.new_figure`, no pyplot), written as PNG bytes without a
software tag, so the same images give the same file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch

from dabench.report.figures import DPI, LABEL_SIZE, TITLE_SIZE, new_figure

CELL_INCHES = 0.9
MIN_WIDTH_INCHES = 3.2  # room for the title with two domains


def _picture(image: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """A ``[C, H, W]`` image in ``[0, 1]`` as what ``imshow`` takes, with the colour map for one channel."""
    array = image.detach().float().clamp(0, 1).cpu().numpy()
    if array.shape[0] == 1:
        return array[0], "gray"
    return np.transpose(array[:3], (1, 2, 0)), None


def translation_grid(samples: Sequence[tuple[torch.Tensor, torch.Tensor]], domains: Sequence[str]) -> bytes:
    """PNG bytes of the grid: ``samples[i]`` holds domain ``i``'s images ``[k, C, H, W]`` and their translations
    ``[k, n_domains, C, H, W]`` (all in ``[0, 1]``); ``domains`` names the domains in code order."""
    if len(samples) != len(domains) or any(out.shape[1] != len(domains) for _, out in samples):
        raise ValueError(f"translation_grid: {len(samples)} sample sets for domains {list(domains)}")
    rows = sum(len(images) for images, _ in samples)
    cols = 1 + len(domains)
    fig = new_figure((max(MIN_WIDTH_INCHES, CELL_INCHES * cols + 0.6), CELL_INCHES * rows + 0.7))
    axes = fig.subplots(max(1, rows), cols, squeeze=False)
    fig.suptitle(f"StarGAN translations\ndomains: {', '.join(domains)}", fontsize=TITLE_SIZE)
    for ax, title in zip(axes[0], ["image", *(f"→ {name}" for name in domains)], strict=True):
        ax.set_title(title, fontsize=LABEL_SIZE)
    row = 0
    for name, (images, outputs) in zip(domains, samples, strict=True):
        for k in range(len(images)):
            for col, image in enumerate([images[k], *outputs[k]]):
                picture, cmap = _picture(image)
                axes[row, col].imshow(picture, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            if k == 0:
                axes[row, 0].set_ylabel(name, fontsize=LABEL_SIZE)
            row += 1
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
