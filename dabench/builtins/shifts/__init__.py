"""Built-in shifts, one module per family. Each module exposes ``SHIFTS``; this package gathers them.

Every shift takes float NCHW images in [0, 1] on any device, is the identity at intensity 0 and draws per-sample
randomness only from its :class:`~dabench.shiftrandom.ShiftRandom`. Modules import torch lazily (inside functions).
"""

from __future__ import annotations

from dabench.builtins.shifts import blur, intensity, jpeg, noise, reinhard, resample, stain
from dabench.specs import ShiftSpec

SHIFTS: tuple[ShiftSpec, ...] = (
    *noise.SHIFTS,
    *blur.SHIFTS,
    *intensity.SHIFTS,
    *reinhard.SHIFTS,
    *stain.SHIFTS,
    *resample.SHIFTS,
    *jpeg.SHIFTS,
)
