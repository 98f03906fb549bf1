"""Synthetic segmentation data of the BN-adaptation study: threshold 2-D Perlin noise into a binary mask, then fill
the mask with white noise of mean ``mu1`` and the background with white noise of mean ``mu2`` (standard deviation
``sigma``; intensities in [0, 1], clipped, stored as uint8). Two domains differ only in (``mu1``, ``mu2``), the
covariate shift BatchNorm adaptation targets. Seeded by ``ctx.rng``; vectorised (2,000 64×64 images in about a
second on 2 CPU cores).

Domain options (``perlin:mu1=0.3,mu2=0.7``) and defaults: ``mu1`` 0.7, ``mu2`` 0.3, ``sigma`` 0.1, ``size`` 64,
``cells`` 4 (gradient-lattice cells per side), ``octaves`` 1, ``threshold`` 0.0 (noise > threshold is mask),
``n_train`` 2000, ``n_test`` 500. Classes: 0 background, 1 mask.

References
----------
Stenger, A., Baudrier, É., Faisan, S. (supervisors). Exploring deep learning domain adaptation performance: from
covariate shift to Wasserstein and beyond. Presentation, 21 July 2023 (shared/papers/batchnorm-adaptation-...).
Perlin, K. An image synthesizer. SIGGRAPH 1985, Computer Graphics 19(3), 287-296.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dabench import DatasetSplits, LoadContext, SpecError
from dabench_datasets.options import parse_domain
from dabench_datasets.reading import labeled

if TYPE_CHECKING:
    import numpy as np

DEFAULTS = {
    "mu1": 0.7,
    "mu2": 0.3,
    "sigma": 0.1,
    "size": 64,
    "cells": 4,
    "octaves": 1,
    "threshold": 0.0,
    "n_train": 2000,
    "n_test": 500,
}
CLASS_NAMES = ("background", "mask")
_CHUNK = 256


def perlin_noise(n: int, size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` independent ``size × size`` gradient-noise fields (Perlin 1985) on a ``cells × cells`` lattice
    (``size`` a multiple of ``cells``), float32 in about [-0.71, 0.71]: random unit gradients at the lattice points,
    quintic fade interpolation. Computed per cell by broadcasting, without gathers."""
    import numpy as np

    angles = rng.uniform(0.0, 2.0 * np.pi, size=(n, cells + 1, cells + 1)).astype(np.float32)
    grad_x, grad_y = np.cos(angles), np.sin(angles)
    step = size // cells
    frac = (np.arange(step, dtype=np.float32) + 0.5) / step
    fx, fy = frac[None, None, None, None, :], frac[None, None, :, None, None]

    def corner(dy: int, dx: int) -> np.ndarray:
        gx = grad_x[:, dy : dy + cells, dx : dx + cells][:, :, None, :, None]
        gy = grad_y[:, dy : dy + cells, dx : dx + cells][:, :, None, :, None]
        return gx * (fx - dx) + gy * (fy - dy)

    u = fx**3 * (fx * (fx * 6 - 15) + 10)
    v = fy**3 * (fy * (fy * 6 - 15) + 10)
    c00, c01, c10, c11 = corner(0, 0), corner(0, 1), corner(1, 0), corner(1, 1)
    top = c00 + u * (c01 - c00)
    bottom = c10 + u * (c11 - c10)
    return (top + v * (bottom - top)).reshape(n, size, size)


def generate(n: int, options: dict[str, float | int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[n, 1, size, size]`` uint8 and masks ``[n, size, size]`` int64 (0 background, 1 mask)."""
    import numpy as np

    size, cells = int(options["size"]), int(options["cells"])
    images = np.empty((n, 1, size, size), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=np.int64)
    for start in range(0, n, _CHUNK):
        count = min(_CHUNK, n - start)
        field = np.zeros((count, size, size), dtype=np.float32)
        for octave in range(int(options["octaves"])):
            field += perlin_noise(count, size, cells * 2**octave, rng) * np.float32(0.5**octave)
        mask = field > options["threshold"]
        mean = np.where(mask, np.float32(options["mu1"]), np.float32(options["mu2"]))
        noisy = mean + np.float32(options["sigma"]) * rng.standard_normal((count, size, size), dtype=np.float32)
        images[start : start + count, 0] = np.round(np.clip(noisy, 0.0, 1.0) * 255)
        masks[start : start + count] = mask
    return images, masks


def load_perlin(ctx: LoadContext) -> DatasetSplits:
    """Perlin-noise masks with mask/background intensities (``mu1``, ``mu2``): the BN-adaptation study's data."""
    options = dict(parse_domain(ctx.domain, DEFAULTS, dataset="perlin").values)
    if not (
        8 <= options["size"] <= 1024
        and 1 <= options["cells"] <= options["size"] // 2
        and options["octaves"] >= 1
        and options["sigma"] >= 0
        and options["n_train"] >= 1
        and options["n_test"] >= 1
    ):
        raise SpecError(
            f"dataset 'perlin': need 8 <= size <= 1024, 1 <= cells <= size/2, octaves >= 1, sigma >= 0 "
            f"and positive counts; got {options}."
        )
    if options["size"] % (options["cells"] * 2 ** (options["octaves"] - 1)):
        raise SpecError(f"dataset 'perlin': size must be a multiple of cells × 2^(octaves-1); got {options}.")
    train = generate(options["n_train"], options, ctx.rng)
    test = generate(options["n_test"], options, ctx.rng)
    size = int(options["size"])
    return DatasetSplits(train=labeled(*train), test=labeled(*test), input_shape=(1, size, size))
