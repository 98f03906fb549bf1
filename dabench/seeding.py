"""Derived seeds: every random stream comes from ``spec.seed`` plus a label; there is no global RNG.

``derive_seed(7, "init")`` is stable across processes, platforms and Python versions (sha256, not ``hash()``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch


def derive_seed(seed: int, *labels: str | int) -> int:
    """A 63-bit seed derived from ``seed`` and a path of labels."""
    text = "/".join([str(seed), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 63) - 1)


@dataclass(frozen=True)
class Seeds:
    """A node in the seed tree: ``child(label)`` descends, the other methods make explicit generators."""

    base: int
    path: tuple[str, ...] = ()

    def child(self, label: str) -> Seeds:
        return Seeds(self.base, (*self.path, label))

    def int(self, label: str) -> int:
        return derive_seed(self.base, *self.path, label)

    def numpy(self, label: str) -> np.random.Generator:
        import numpy as np

        return np.random.default_rng(self.int(label))

    def torch(self, label: str, device: torch.device | str = "cpu") -> torch.Generator:
        import torch

        generator = torch.Generator(device=device)
        generator.manual_seed(self.int(label))
        return generator


def subsample(seeds: Seeds, n: int, cap: int, label: str) -> torch.Tensor:
    """Sorted indices of a seeded subsample of ``cap`` of ``n`` items (all of them, in order, when ``n <= cap``):
    the one rule by which diagnostics, benefit predictors and checkpoint scoring bound their cost."""
    import numpy as np
    import torch

    if n <= cap:
        return torch.arange(n)
    return torch.from_numpy(np.sort(seeds.numpy(label).choice(n, cap, replace=False)))
