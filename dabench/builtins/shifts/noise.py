"""Additive noise shifts: uniform (the DANN study's) and Gaussian.

References
----------
DANN inter-semantic histopathology study (shared/papers): ``N_i(x) = clip(x + i·R, 0, 1)``, ``R ~ U[0, 1]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dabench.builtins.citations import DANN_INTERSEMANTIC
from dabench.builtins.shifts.chunks import map_chunks
from dabench.specs import ShiftSpec

if TYPE_CHECKING:
    import torch

    from dabench.shiftrandom import ShiftRandom


def uniform_noise(images: torch.Tensor, intensity: float, random: ShiftRandom, state: object = None) -> torch.Tensor:
    """``clip(x + intensity · U[0, 1], 0, 1)``, one independent uniform draw per pixel and channel."""
    if intensity == 0:
        return images

    def one(chunk: torch.Tensor, rand: ShiftRandom) -> torch.Tensor:
        noise = rand.uniform(tuple(chunk.shape[1:])).to(device=chunk.device, dtype=chunk.dtype)
        return noise.mul_(intensity).add_(chunk).clamp_(0.0, 1.0)

    return map_chunks(one, images, random)


def gaussian_noise(images: torch.Tensor, intensity: float, random: ShiftRandom, state: object = None) -> torch.Tensor:
    """``clip(x + intensity · N(0, 1), 0, 1)``: intensity is the noise standard deviation."""
    if intensity == 0:
        return images

    def one(chunk: torch.Tensor, rand: ShiftRandom) -> torch.Tensor:
        noise = rand.normal(tuple(chunk.shape[1:])).to(device=chunk.device, dtype=chunk.dtype)
        return noise.mul_(intensity).add_(chunk).clamp_(0.0, 1.0)

    return map_chunks(one, images, random)


SHIFTS = (
    ShiftSpec(
        name="noise",
        apply=uniform_noise,
        intensity_range=(0.0, 12.0),
        description="Uniform additive noise clip(x + i·U[0,1], 0, 1) (DANN study; i in [0, 12], studied 0–1.2).",
        paper=DANN_INTERSEMANTIC,
    ),
    ShiftSpec(
        name="gaussian_noise",
        apply=gaussian_noise,
        intensity_range=(0.0, 2.0),
        description="Gaussian additive noise clip(x + σ·N(0,1), 0, 1); intensity = σ in [0, 2].",
    ),
)
