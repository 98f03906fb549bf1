"""Chunked application of a batched shift, so intermediates stay small and cache-resident.

DESIGN §7: tensors over ~32 MiB are page-faulted in again on every allocation on the project's glibc machines, and a
shift that makes several float/int temporaries of a 10,000-image batch would cost gigabytes. Shifts therefore work on
row chunks of about ``CHUNK_ELEMENTS`` values (1 MiB of float32: 9 images of 96×96×3, 111 of 28×28×3); every sample's
result is independent of how the batch is cut because each chunk draws with ``random.subset``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from dabench.shiftrandom import ShiftRandom

CHUNK_ELEMENTS = 1 << 18


def chunk_rows(images: torch.Tensor, elements: int = CHUNK_ELEMENTS) -> int:
    """How many samples of ``images`` fit in one chunk of about ``elements`` values (at least one)."""
    return max(1, elements // max(1, math.prod(images.shape[1:])))


def map_chunks(
    fn: Callable[[torch.Tensor, ShiftRandom], torch.Tensor],
    images: torch.Tensor,
    random: ShiftRandom,
    elements: int = CHUNK_ELEMENTS,
) -> torch.Tensor:
    """``fn(images[i:j], random.subset(i:j))`` over row chunks, written into one output like ``images``."""
    import torch

    if len(random) != images.shape[0]:
        raise ValueError(f"ShiftRandom covers {len(random)} samples but the batch has {images.shape[0]} images.")
    rows = chunk_rows(images, elements)
    if images.shape[0] <= rows:
        return fn(images, random)
    out = torch.empty_like(images)
    for start in range(0, images.shape[0], rows):
        part = slice(start, start + rows)
        out[part] = fn(images[part], random.subset(part))
    return out
