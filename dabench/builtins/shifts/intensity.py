"""Global intensity shifts: brightness, contrast and gamma (a "luminosity shift" in the DANN study's terms).

They are deterministic — every image of a domain gets the same transform — and act on every channel alike, so grey
and RGB images are both supported. Results are clipped to [0, 1].

References
----------
DANN inter-semantic histopathology study (shared/papers), section "Data shift" (luminosity shift as a domain shift);
contrast follows ``torchvision.transforms.functional.adjust_contrast`` (blend with the image's mean grey level).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dabench.builtins.citations import DANN_INTERSEMANTIC
from dabench.builtins.shifts.chunks import map_chunks
from dabench.specs import ShiftSpec

if TYPE_CHECKING:
    import torch

    from dabench.shiftrandom import ShiftRandom

_LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights (ITU-R BT.601, rounded)


def brightness(images: torch.Tensor, intensity: float, random: ShiftRandom, state: object = None) -> torch.Tensor:
    """``clip(x + intensity, 0, 1)``: intensity in [-1, 1] is the added grey level."""
    if intensity == 0:
        return images
    return map_chunks(lambda chunk, _: (chunk + intensity).clamp_(0.0, 1.0), images, random)


def _mean_grey(chunk: torch.Tensor) -> torch.Tensor:
    """Per-image mean luma ``[N, 1, 1, 1]`` (torchvision's BT.601 weights for RGB; the plain mean otherwise)."""
    import torch

    means = chunk.mean(dim=(2, 3))
    if chunk.shape[1] == 3:
        weights = torch.tensor(_LUMA, dtype=means.dtype, device=means.device)
        grey = means @ weights
    else:
        grey = means.mean(1)
    return grey.view(-1, 1, 1, 1)


def contrast(images: torch.Tensor, intensity: float, random: ShiftRandom, state: object = None) -> torch.Tensor:
    """``clip(m + (1 + intensity)·(x − m), 0, 1)`` with ``m`` the image's mean grey level.

    Intensity in [-1, 3]: −1 flattens every image to its mean grey, 0 is the identity, positive values stretch.
    """
    if intensity == 0:
        return images
    factor = 1.0 + intensity

    def one(chunk: torch.Tensor, _: ShiftRandom) -> torch.Tensor:
        mean = _mean_grey(chunk)
        return (chunk - mean).mul_(factor).add_(mean).clamp_(0.0, 1.0)

    return map_chunks(one, images, random)


def gamma(images: torch.Tensor, intensity: float, random: ShiftRandom, state: object = None) -> torch.Tensor:
    """``x ** (2 ** intensity)``: intensity in [-3, 3]; positive darkens mid-tones, negative brightens them."""
    if intensity == 0:
        return images
    exponent = 2.0**intensity
    return map_chunks(lambda chunk, _: chunk.clamp(0.0, 1.0).pow_(exponent), images, random)


SHIFTS = (
    ShiftSpec(
        name="brightness",
        apply=brightness,
        intensity_range=(-1.0, 1.0),
        description="Brightness offset clip(x + i, 0, 1); intensity i in [-1, 1] (0: identity).",
        paper=DANN_INTERSEMANTIC,
    ),
    ShiftSpec(
        name="contrast",
        apply=contrast,
        intensity_range=(-1.0, 3.0),
        description="Contrast factor 1 + i about the image's mean grey (torchvision semantics); i in [-1, 3].",
        paper=DANN_INTERSEMANTIC,
    ),
    ShiftSpec(
        name="gamma",
        apply=gamma,
        intensity_range=(-3.0, 3.0),
        description="Gamma curve x ** (2 ** i); i in [-3, 3], positive darkens (0: identity).",
        paper=DANN_INTERSEMANTIC,
    ),
)
