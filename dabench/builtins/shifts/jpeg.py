"""JPEG compression loss, batched on tensors: baseline JPEG's lossy steps without the entropy coder.

Per image: round to 8 bits, JFIF YCbCr, 4:2:0 chroma subsampling (2×2 mean; option ``subsampling="4:4:4"`` keeps
full chroma), 8×8 block DCT, quantisation with the ITU-T T.81 Annex K tables scaled by quality as libjpeg does,
inverse DCT, libjpeg's "fancy" (triangular = bilinear) chroma upsampling, back to RGB and 8 bits. Grey images use the
luminance path only. Intensity ``i`` (integer, [0, 99]) maps to quality ``100 − i``; ``i = 0`` is the identity (no
compression at all, which even quality 100 is not). The result matches a PIL/libjpeg round trip up to libjpeg's
integer DCT rounding.

References
----------
ITU-T T.81 | ISO/IEC 10918-1 (1992), Annex K (quantisation tables); JFIF 1.02 (YCbCr); IJG libjpeg
``jpeg_quality_scaling``.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from dabench.builtins.shifts.chunks import map_chunks
from dabench.errors import SpecError
from dabench.specs import ShiftSpec

if TYPE_CHECKING:
    import torch

    from dabench.shiftrandom import ShiftRandom

LUMINANCE_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
CHROMINANCE_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8,) * 4,
)
YCBCR_FROM_RGB = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
RGB_FROM_YCBCR = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


def quality_table(base: tuple[tuple[int, ...], ...], quality: int) -> list[list[int]]:
    """libjpeg's scaling of a base table to ``quality`` (1–100), clamped to baseline's [1, 255]."""
    quality = min(100, max(1, quality))
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [[min(255, max(1, (q * scale + 50) // 100)) for q in row] for row in base]


@functools.lru_cache(maxsize=8)
def _dct_matrix(device: str, dtype: torch.dtype) -> torch.Tensor:
    """Orthonormal 8-point DCT-II matrix ``D`` (``coefficients = D · block · Dᵀ``)."""
    import torch

    rows = [
        [(math.sqrt(1 / 8) if k == 0 else 0.5) * math.cos((2 * n + 1) * k * math.pi / 16) for n in range(8)]
        for k in range(8)
    ]
    return torch.tensor(rows, dtype=dtype, device=device)


def _pad_to(plane: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate the last row/column of ``[N, C, H, W]`` up to multiples of ``multiple`` (as libjpeg does)."""
    import torch.nn.functional as F

    h, w = plane.shape[2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(plane, (0, pw, 0, ph), mode="replicate") if ph or pw else plane


def _quantise_blocks(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """DCT, quantise and inverse-DCT every 8×8 block of ``[N, C, H, W]`` (H, W multiples of 8)."""
    n, c, h, w = plane.shape
    d = _dct_matrix(str(plane.device), plane.dtype)
    blocks = plane.reshape(n, c, h // 8, 8, w // 8, 8).transpose(3, 4)
    coefficients = d @ blocks @ d.T
    quantised = coefficients.div_(table).round_().mul_(table)
    return (d.T @ quantised @ d).transpose(3, 4).reshape(n, c, h, w)


def _compress(chunk: torch.Tensor, quality: int, subsample: bool) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    n, c, h, w = chunk.shape
    pixels = chunk.to(torch.float32).clamp(0.0, 1.0).mul_(255.0).round_()
    luma_q = torch.tensor(quality_table(LUMINANCE_TABLE, quality), dtype=torch.float32, device=chunk.device)
    if c == 1:
        out = _quantise_blocks(_pad_to(pixels - 128.0, 8), luma_q)[:, :, :h, :w] + 128.0
        return out.round_().clamp_(0.0, 255.0).div_(255.0).to(chunk.dtype)
    chroma_q = torch.tensor(quality_table(CHROMINANCE_TABLE, quality), dtype=torch.float32, device=chunk.device)
    to_ycc = torch.tensor(YCBCR_FROM_RGB, dtype=torch.float32, device=chunk.device)
    ycc = (to_ycc @ pixels.reshape(n, 3, h * w)).reshape(n, 3, h, w)
    luma = _quantise_blocks(_pad_to(ycc[:, :1] - 128.0, 8), luma_q)[:, :, :h, :w]
    chroma = ycc[:, 1:]  # centred chroma: the usual +128 offset and the -128 level shift cancel
    if subsample:
        chroma = F.avg_pool2d(_pad_to(chroma, 2), 2)
    ch, cw = chroma.shape[2:]
    chroma = _quantise_blocks(_pad_to(chroma, 8), chroma_q)[:, :, :ch, :cw]
    if subsample:
        chroma = F.interpolate(chroma, size=(2 * ch, 2 * cw), mode="bilinear", align_corners=False)[:, :, :h, :w]
    ycc = torch.cat([luma.add_(128.0), chroma], dim=1)
    to_rgb = torch.tensor(RGB_FROM_YCBCR, dtype=torch.float32, device=chunk.device)
    rgb = to_rgb @ ycc.reshape(n, 3, -1)
    return rgb.reshape(n, 3, h, w).round_().clamp_(0.0, 255.0).div_(255.0).to(chunk.dtype)


def jpeg(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any = None) -> torch.Tensor:
    """JPEG round trip at quality ``100 − intensity`` (``intensity = 0``: identity)."""
    if intensity == 0:
        return images
    mode = str((state or {}).get("subsampling", "4:2:0"))
    if mode not in ("4:2:0", "4:4:4"):
        raise SpecError(f"jpeg: subsampling={mode!r} must be '4:2:0' (PIL's default) or '4:4:4'.")
    if images.shape[1] not in (1, 3):
        raise SpecError(f"shift 'jpeg' takes 1- or 3-channel images; got {images.shape[1]} channels.")
    quality = 100 - int(intensity)
    return map_chunks(lambda chunk, _: _compress(chunk, quality, mode == "4:2:0"), images, random)


SHIFTS = (
    ShiftSpec(
        name="jpeg",
        apply=jpeg,
        intensity_range=(0.0, 99.0),
        integer_intensity=True,
        description=(
            "JPEG compression loss at quality 100 − i (batched DCT + standard quantisation tables, YCbCr 4:2:0; "
            "option subsampling=4:2:0|4:4:4); i = 0 is the identity."
        ),
        defaults={"subsampling": "4:2:0"},
    ),
)
