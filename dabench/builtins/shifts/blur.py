"""Blur shifts: box blur (the DANN study's normalised k×k uniform kernel ``K = M / k²``) and Gaussian blur.

Both are separable and replicate the nearest border pixel. Box blur is a summed-area (cumulative sum) filter, so its
cost does not grow with k, and matches ``scipy.ndimage.uniform_filter(mode="nearest")``; Gaussian blur is two 1-D
convolutions with scipy's truncated kernel (``radius = int(4σ + 0.5)``), matching
``scipy.ndimage.gaussian_filter(mode="nearest")``.

References
----------
DANN inter-semantic histopathology study (shared/papers), section "Blur".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dabench.builtins.citations import DANN_INTERSEMANTIC
from dabench.builtins.shifts.chunks import map_chunks
from dabench.specs import ShiftSpec

if TYPE_CHECKING:
    import torch

    from dabench.shiftrandom import ShiftRandom


def _replicate_pad(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """``x`` extended by ``before``/``after`` copies of its edge values along ``dim``."""
    import torch

    n = x.shape[dim]
    index = torch.arange(-before, n + after, device=x.device).clamp_(0, n - 1)
    return x.index_select(dim, index)


def _box_1d(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Mean over a centred window of ``k`` along ``dim`` (edge-replicated), via a cumulative sum.

    The sum runs in float32 for float32 input (rows are short, so the error stays ~1e-6) and in float64 otherwise.
    """
    import torch

    before, after = k // 2, (k - 1) // 2
    n = x.shape[dim]
    compute = torch.float32 if x.dtype == torch.float32 else torch.float64
    padded = _replicate_pad(x, before + 1, after, dim).to(compute)
    padded.narrow(dim, 0, 1).zero_()
    csum = padded.cumsum(dim)
    return (csum.narrow(dim, k, n) - csum.narrow(dim, 0, n)).mul_(1.0 / k).to(x.dtype)  # views overlap: no sub_


def box_blur(images: torch.Tensor, intensity: float, random: ShiftRandom, state: object = None) -> torch.Tensor:
    """Box blur with kernel size ``k = intensity`` (``k <= 1`` is the identity)."""
    k = int(intensity)
    if k <= 1:
        return images
    return map_chunks(lambda chunk, _: _box_1d(_box_1d(chunk, k, 2), k, 3), images, random)


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> list[float]:
    """scipy.ndimage's normalised 1-D Gaussian weights, radius ``int(truncate·σ + 0.5)``."""
    radius = int(truncate * sigma + 0.5)
    weights = [math.exp(-0.5 * (x / sigma) ** 2) for x in range(-radius, radius + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def _conv_1d(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    """Correlate every row of ``x`` (``[B, 1, H, W]``) with the symmetric ``kernel`` along ``dim`` (2 or 3)."""
    import torch.nn.functional as F

    radius = (kernel.numel() - 1) // 2
    weight = kernel.view(1, 1, -1, 1) if dim == 2 else kernel.view(1, 1, 1, -1)
    return F.conv2d(_replicate_pad(x, radius, radius, dim), weight)


def gaussian_blur(images: torch.Tensor, intensity: float, random: ShiftRandom, state: object = None) -> torch.Tensor:
    """Separable Gaussian blur with standard deviation ``σ = intensity`` pixels (``σ = 0``: identity)."""
    import torch

    if intensity <= 0:
        return images
    weights = gaussian_kernel(float(intensity))
    if len(weights) == 1:
        return images
    compute = images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32
    kernel = torch.tensor(weights, dtype=compute, device=images.device)

    def one(chunk: torch.Tensor, _: ShiftRandom) -> torch.Tensor:
        n, c, h, w = chunk.shape
        flat = chunk.reshape(n * c, 1, h, w).to(compute)
        return _conv_1d(_conv_1d(flat, kernel, 2), kernel, 3).reshape(n, c, h, w).to(chunk.dtype)

    return map_chunks(one, images, random)


SHIFTS = (
    ShiftSpec(
        name="blur",
        apply=box_blur,
        intensity_range=(0.0, 63.0),
        integer_intensity=True,
        description="Box blur with the normalised k×k uniform kernel; intensity = k (0 or 1: identity).",
        paper=DANN_INTERSEMANTIC,
    ),
    ShiftSpec(
        name="gaussian_blur",
        apply=gaussian_blur,
        intensity_range=(0.0, 16.0),
        description="Separable Gaussian blur, edge-replicated; intensity = σ in pixels (kernel radius int(4σ+0.5)).",
    ),
)
