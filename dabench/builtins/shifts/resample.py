"""Resampling shifts: resolution loss (down- then up-sampling) and random resized crop.

``random_resized_crop`` is the DANN study's TissueNet preprocessing (torchvision ``RandomResizedCrop`` to 96×96×3),
done batched: each sample draws its area fraction, aspect ratio and position from :class:`~dabench.shiftrandom.
ShiftRandom`, and one ``affine_grid`` + ``grid_sample`` (bilinear, border padding) resamples the crop back to the input
size. Unlike torchvision, crop boxes are continuous (not rounded to whole pixels) and a crop that does not fit is
clamped to the image instead of being redrawn (torchvision retries 10 times, then centre-crops).

Both shifts are geometric, so each has an ``apply_labels`` that moves segmentation masks with the image: the same
per-sample boxes (the same :class:`~dabench.shiftrandom.ShiftRandom` draws) and the same sizes, sampled
nearest-neighbour so a mask keeps its label set.

References
----------
DANN inter-semantic histopathology study (shared/papers), section "Datasets" (RandomResizedCrop, 96×96×3).
C. Szegedy et al., "Going deeper with convolutions", CVPR 2015 (the random-resized-crop augmentation).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dabench.builtins.citations import DANN_INTERSEMANTIC
from dabench.builtins.shifts.chunks import map_chunks
from dabench.errors import SpecError
from dabench.specs import ShiftSpec

if TYPE_CHECKING:
    import torch

    from dabench.shiftrandom import ShiftRandom

_UPSAMPLE = ("bilinear", "bicubic", "nearest")
TORCHVISION_MIN_SCALE = 0.08


def _upsample_mode(state: Any) -> str:
    mode = str((state or {}).get("upsample", "bilinear"))
    if mode not in _UPSAMPLE:
        raise SpecError(f"resolution: upsample={mode!r} is not one of {', '.join(_UPSAMPLE)}.")
    return mode


def _low_size(h: int, w: int, intensity: float) -> tuple[int, int]:
    return max(1, round(h / (1.0 + intensity))), max(1, round(w / (1.0 + intensity)))


def resolution(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any = None) -> torch.Tensor:
    """Area-downsample by ``1 + intensity`` (to ``round(H / (1 + i)) × round(W / (1 + i))``), then upsample back.

    Option ``upsample``: ``"bilinear"`` (default), ``"bicubic"`` (clipped to [0, 1]) or ``"nearest"``.
    """
    import torch.nn.functional as F

    mode = _upsample_mode(state)
    h, w = images.shape[2:]
    small = _low_size(h, w, intensity)
    if intensity == 0 or small == (h, w):
        return images

    def one(chunk: torch.Tensor, _: ShiftRandom) -> torch.Tensor:
        low = F.interpolate(chunk, size=small, mode="area")
        align = None if mode == "nearest" else False
        return F.interpolate(low, size=(h, w), mode=mode, align_corners=align).clamp_(0.0, 1.0)

    return map_chunks(one, images, random)


def resolution_labels(masks: torch.Tensor, intensity: float, random: ShiftRandom, state: Any = None) -> torch.Tensor:
    """:func:`resolution` on int masks ``[N, H, W]``: nearest-neighbour down- and up-sampling to the same sizes.

    Pixel centres are kept (``nearest-exact``: a low-resolution pixel takes the label at its block's centre, where
    ``area`` averages the image's block), except that option ``upsample="nearest"`` upsamples as the image does.
    """
    import torch.nn.functional as F

    mode = _upsample_mode(state)
    h, w = masks.shape[1:]
    small = _low_size(h, w, intensity)
    if intensity == 0 or small == (h, w):
        return masks
    up = "nearest" if mode == "nearest" else "nearest-exact"

    def one(chunk: torch.Tensor, _: ShiftRandom) -> torch.Tensor:
        low = F.interpolate(chunk[:, None].float(), size=small, mode="nearest-exact")
        return F.interpolate(low, size=(h, w), mode=up)[:, 0].round_().to(masks.dtype)

    return map_chunks(one, masks, random)


def crop_boxes(random: ShiftRandom, intensity: float, max_ratio: float) -> torch.Tensor:
    """Per-sample crop boxes ``[N, 4]`` as fractions of the image: ``(x0, y0, width, height)``.

    Area fraction ``s ~ U[1 − i, 1]``; log aspect ratio ``~ U[−a, a]`` with ``a = min(1, i / 0.92)·log(max_ratio)``,
    so at ``i = 0.92`` the ranges are torchvision's defaults (scale (0.08, 1), ratio (3/4, 4/3)).
    """
    import torch

    u = random.uniform((4,))
    scale = (1.0 - intensity) + intensity * u[:, 0]
    spread = min(1.0, intensity / (1.0 - TORCHVISION_MIN_SCALE)) * math.log(max_ratio)
    ratio = torch.exp((2.0 * u[:, 1] - 1.0) * spread)
    width = torch.sqrt(scale * ratio).clamp_(max=1.0)
    height = torch.sqrt(scale / ratio).clamp_(max=1.0)
    return torch.stack([u[:, 2] * (1.0 - width), u[:, 3] * (1.0 - height), width, height], dim=1)


def _max_ratio(state: Any) -> float:
    max_ratio = float((state or {}).get("max_ratio", 4.0 / 3.0))
    if max_ratio < 1.0:
        raise SpecError(f"random_resized_crop: max_ratio={max_ratio:g} must be >= 1 (torchvision's is 4/3).")
    return max_ratio


def _crop(chunk: torch.Tensor, rand: ShiftRandom, intensity: float, max_ratio: float, mode: str) -> torch.Tensor:
    """Float NCHW ``chunk`` resampled from each sample's crop box (:func:`crop_boxes`) with ``grid_sample``."""
    import torch
    import torch.nn.functional as F

    boxes = crop_boxes(rand, intensity, max_ratio).to(device=chunk.device, dtype=chunk.dtype)
    x0, y0, width, height = boxes.unbind(1)
    zero = torch.zeros_like(width)
    theta = torch.stack(
        [torch.stack([width, zero, 2 * x0 + width - 1], 1), torch.stack([zero, height, 2 * y0 + height - 1], 1)],
        dim=1,
    )
    grid = F.affine_grid(theta, list(chunk.shape), align_corners=False)
    return F.grid_sample(chunk, grid, mode=mode, padding_mode="border", align_corners=False)


def random_resized_crop(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any = None) -> torch.Tensor:
    """Crop a random box per sample (see :func:`crop_boxes`) and resize it bilinearly back to the input size."""
    if intensity == 0:
        return images
    max_ratio = _max_ratio(state)
    return map_chunks(lambda chunk, rand: _crop(chunk, rand, intensity, max_ratio, "bilinear"), images, random)


def random_resized_crop_labels(
    masks: torch.Tensor, intensity: float, random: ShiftRandom, state: Any = None
) -> torch.Tensor:
    """:func:`random_resized_crop` on int masks ``[N, H, W]``: the same per-sample boxes, nearest-neighbour."""
    if intensity == 0:
        return masks
    max_ratio = _max_ratio(state)

    def one(chunk: torch.Tensor, rand: ShiftRandom) -> torch.Tensor:
        moved = _crop(chunk[:, None].float(), rand, intensity, max_ratio, "nearest")
        return moved[:, 0].round_().to(masks.dtype)

    return map_chunks(one, masks, random)


SHIFTS = (
    ShiftSpec(
        name="resolution",
        apply=resolution,
        intensity_range=(0.0, 15.0),
        description=(
            "Resolution loss: area-downsample by factor 1 + i, then upsample back (option upsample=bilinear|bicubic|"
            "nearest); i in [0, 15]."
        ),
        defaults={"upsample": "bilinear"},
        apply_labels=resolution_labels,
    ),
    ShiftSpec(
        name="random_resized_crop",
        apply=random_resized_crop,
        intensity_range=(0.0, 1.0 - TORCHVISION_MIN_SCALE),
        description=(
            "Per-sample random resized crop back to the input size (DANN study's TissueNet preprocessing); intensity "
            "= 1 − min area fraction, i = 0.92 gives torchvision's defaults (option max_ratio, default 4/3)."
        ),
        paper=DANN_INTERSEMANTIC,
        defaults={"max_ratio": 4.0 / 3.0},
        apply_labels=random_resized_crop_labels,
    ),
)
