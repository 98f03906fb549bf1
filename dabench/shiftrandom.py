"""Counter-based, per-sample random numbers for batched shifts.

A shift must perturb a sample identically whatever batch it is in, on CPU and CUDA. Stateful generators cannot
do that for a batch, so each random value is a hash of ``(stream seed, sample id, element index)`` (the
``lowbias32`` integer hash, applied twice), computed with vectorised tensor ops on the images' device. The
per-element hash runs in int32 (two's-complement wrap-around, logical shifts by masking), which gives the same bits as
the int64 formulation at a quarter of the memory traffic — it is the hot loop of every noise shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dabench.seeding import derive_seed

if TYPE_CHECKING:
    import torch

_MASK32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on values in [0, 2**32) held in int64, in place (products wrap; the low 32 bits stay exact)."""
    x.bitwise_xor_(x >> 16)
    x.mul_(0x7FEB352D).bitwise_and_(_MASK32)
    x.bitwise_xor_(x >> 15)
    x.mul_(0x846CA68B).bitwise_and_(_MASK32)
    return x.bitwise_xor_(x >> 16)


def _signed32(value: int) -> int:
    """The int32 whose two's-complement bits are ``value``'s low 32 bits."""
    value &= _MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


def _hash32_int32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on int32 bit patterns, in place; ``(x >> s) & mask`` turns the arithmetic shift into a logical one."""
    x.bitwise_xor_((x >> 16).bitwise_and_(0xFFFF))
    x.mul_(_signed32(0x7FEB352D))
    x.bitwise_xor_((x >> 15).bitwise_and_(0x1FFFF))
    x.mul_(_signed32(0x846CA68B))
    return x.bitwise_xor_((x >> 16).bitwise_and_(0xFFFF))


@dataclass(frozen=True)
class ShiftRandom:
    """Random numbers for ``N`` samples identified by ``sample_ids`` (int64 ``[N]``) under a stream ``seed``."""

    seed: int
    sample_ids: torch.Tensor

    @classmethod
    def for_range(cls, seed: int, start: int, stop: int, device: torch.device | str = "cpu") -> ShiftRandom:
        import torch

        return cls(seed, torch.arange(start, stop, dtype=torch.int64, device=device))

    def stream(self, label: str | int) -> ShiftRandom:
        """An independent stream for the same samples (e.g. the second shift of a composition)."""
        return ShiftRandom(derive_seed(self.seed, label), self.sample_ids)

    def subset(self, index: torch.Tensor | slice) -> ShiftRandom:
        """The numbers of the samples ``sample_ids[index]`` (an index tensor, boolean mask or slice)."""
        return ShiftRandom(self.seed, self.sample_ids[index])

    def __len__(self) -> int:
        return int(self.sample_ids.shape[0])

    def _bits(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Hashed bits as int32 ``[N, *shape]`` (two's complement of the unsigned 32-bit value)."""
        import torch

        device = self.sample_ids.device
        lo, hi = self.seed & _MASK32, (self.seed >> 32) & _MASK32
        per_sample = _hash32(_hash32(self.sample_ids & _MASK32).bitwise_xor_(lo))
        per_sample = _hash32(per_sample.bitwise_xor_(hi).bitwise_xor_((self.sample_ids >> 32) & _MASK32))
        per_sample = torch.where(per_sample >= 1 << 31, per_sample - (1 << 32), per_sample).to(torch.int32)
        count = math.prod(shape)
        element = torch.arange(count, dtype=torch.int32, device=device).mul_(_signed32(0x9E3779B1))
        mixed = per_sample[:, None] + element[None, :]
        return _hash32_int32(mixed).reshape((len(self), *shape))

    def uniform(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """float32 uniform on [0, 1), shape ``[N, *shape]`` (the top 24 bits of each hash)."""
        import torch

        bits = self._bits(shape)
        return (bits >> 8).bitwise_and_(0xFFFFFF).to(torch.float32).mul_(1.0 / (1 << 24))

    def normal(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """float32 standard normal, shape ``[N, *shape]`` (Box–Muller on two independent uniform streams)."""
        import torch

        u1 = self.stream("normal-u1").uniform(shape)
        u2 = self.stream("normal-u2").uniform(shape)
        radius = torch.sqrt(-2.0 * torch.log1p(-u1))
        return radius * torch.cos((2.0 * math.pi) * u2)

    def integers(self, low: int, high: int, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """int64 uniform on [low, high), shape ``[N, *shape]``."""
        import torch

        span = high - low
        bits = self._bits(shape).to(torch.int64).bitwise_and_(_MASK32)
        return low + (bits * span >> 32)
