"""ShiftRandom's int32 hot loop gives exactly the bits of the int64 lowbias32 formulation, on any batch cut."""

from __future__ import annotations

import math

import torch

from dabench.shiftrandom import ShiftRandom

_MASK = 0xFFFFFFFF


def _hash64(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK
    return x ^ (x >> 16)


def _reference_bits(seed: int, ids: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    per_sample = _hash64(_hash64(ids & _MASK) ^ (seed & _MASK))
    per_sample = _hash64(per_sample ^ ((seed >> 32) & _MASK) ^ ((ids >> 32) & _MASK))
    element = torch.arange(math.prod(shape), dtype=torch.int64) * 0x9E3779B1
    return _hash64((per_sample[:, None] + element[None, :]) & _MASK).reshape(len(ids), *shape)


def test_int32_bits_equal_int64_reference() -> None:
    ids = torch.tensor([0, 1, 7, 2**31 + 5, 2**40 + 3, 2**62 + 11])
    for seed in (0, 1, 2**63 - 1, 987654321987):
        random = ShiftRandom(seed, ids)
        got = random._bits((3, 5, 7)).to(torch.int64) & _MASK
        assert torch.equal(got, _reference_bits(seed, ids, (3, 5, 7)))
        expected_uniform = (_reference_bits(seed, ids, (4,)) >> 8).to(torch.float32) / (1 << 24)
        assert torch.equal(random.uniform((4,)), expected_uniform)


def test_distributions_and_slices() -> None:
    random = ShiftRandom.for_range(3, 0, 64)
    u = random.uniform((1000,))
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0 and abs(float(u.mean()) - 0.5) < 0.01
    k = random.integers(-3, 4, (500,))
    assert int(k.min()) == -3 and int(k.max()) == 3
    assert torch.equal(random.subset(slice(10, 20)).uniform((5,)), u[10:20, :5])
    z = random.normal((2000,))
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1.0) < 0.01
