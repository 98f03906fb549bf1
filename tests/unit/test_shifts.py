"""Generic properties of every built-in shift: identity at 0, range, determinism per sample, no mutation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from dabench.builtins.shifts import SHIFTS
from dabench.builtins.shifts.reinhard import lab_stats
from dabench.errors import SpecError
from dabench.shiftrandom import ShiftRandom
from dabench.specs import ShiftSpec

BY_NAME = {spec.name: spec for spec in SHIFTS}
EXPECTED = {
    "noise",
    "gaussian_noise",
    "blur",
    "gaussian_blur",
    "brightness",
    "contrast",
    "gamma",
    "reinhard",
    "stain",
    "resolution",
    "random_resized_crop",
    "jpeg",
}
COLOUR_ONLY = {"stain"}


def _images(n: int = 6, c: int = 3, h: int = 20, w: int = 23, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=generator)


def _state(spec: ShiftSpec) -> object:
    if spec.name == "reinhard":
        reference = _images(1, seed=99)[0] * torch.tensor([0.7, 0.5, 0.9]).view(3, 1, 1)
        return lab_stats(reference)
    return dict(spec.defaults)


def _strong(spec: ShiftSpec) -> float:
    lo, hi = spec.intensity_range
    value = hi if abs(hi) >= abs(lo) else lo
    return min(value, 9.0) if spec.name in ("blur", "resolution") else value


def test_every_family_is_registered() -> None:
    assert set(BY_NAME) == EXPECTED
    assert len(BY_NAME) == len(SHIFTS)


@pytest.mark.parametrize("spec", SHIFTS, ids=lambda s: s.name)
def test_spec_is_well_formed(spec: ShiftSpec) -> None:
    lo, hi = spec.intensity_range
    assert lo <= 0.0 <= hi
    assert spec.description
    json.dumps(dict(spec.defaults))  # options must be JSON scalars
    assert all(isinstance(v, str | int | float | bool) for v in spec.defaults.values())
    assert spec.integer_intensity == (spec.name in ("blur", "jpeg"))


@pytest.mark.parametrize("spec", SHIFTS, ids=lambda s: s.name)
@pytest.mark.parametrize("channels", [1, 3])
def test_identity_at_zero(spec: ShiftSpec, channels: int) -> None:
    x = _images(c=channels)
    out = spec.apply(x, 0.0, ShiftRandom.for_range(3, 0, len(x)), _state(spec))
    assert torch.equal(out, x)


@pytest.mark.parametrize("spec", SHIFTS, ids=lambda s: s.name)
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_range_and_no_mutation(spec: ShiftSpec, channels: int) -> None:
    x = _images(c=channels)
    before = x.clone()
    random = ShiftRandom.for_range(3, 0, len(x))
    if channels == 1 and spec.name in COLOUR_ONLY:
        with pytest.raises(SpecError, match="3-channel"):
            spec.apply(x, _strong(spec), random, _state(spec))
        return
    out = spec.apply(x, _strong(spec), random, _state(spec))
    assert torch.equal(x, before)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.allclose(out, x, atol=1e-3), "a strong shift must change the images"


@pytest.mark.parametrize("spec", SHIFTS, ids=lambda s: s.name)
def test_per_sample_determinism_across_batches(spec: ShiftSpec) -> None:
    """A sample's result does not depend on its batch: shift all, then a permuted part with the matching subset.

    96×96×3 images make the 10-image batch span several internal chunks (see ``chunks.CHUNK_ELEMENTS``).
    """
    x = _images(n=10, h=96, w=96, seed=1)
    random = ShiftRandom.for_range(11, 100, 110)
    intensity = _strong(spec) / 2 if not spec.integer_intensity else max(2.0, float(int(_strong(spec) / 2)))
    full = spec.apply(x, intensity, random, _state(spec))
    index = torch.tensor([7, 2, 9, 0])
    part = spec.apply(x[index], intensity, random.subset(index), _state(spec))
    torch.testing.assert_close(part, full[index], atol=2e-5, rtol=0)
    again = spec.apply(x, intensity, ShiftRandom.for_range(11, 100, 110), _state(spec))
    assert torch.equal(again, full)


@pytest.mark.parametrize("name", ["noise", "gaussian_noise", "stain", "random_resized_crop"])
def test_random_shifts_depend_on_seed_and_sample(name: str) -> None:
    spec = BY_NAME[name]
    x = _images(n=2, seed=4)
    x[1] = x[0]
    a = spec.apply(x, _strong(spec) / 4, ShiftRandom.for_range(1, 0, 2), _state(spec))
    b = spec.apply(x, _strong(spec) / 4, ShiftRandom.for_range(2, 0, 2), _state(spec))
    assert not torch.allclose(a, b)
    assert not torch.allclose(a[0], a[1]), "two samples with the same pixels must get different perturbations"


def test_noise_matches_paper_formula() -> None:
    x = _images()
    random = ShiftRandom.for_range(5, 0, len(x))
    expected = (x + 0.7 * random.uniform(tuple(x.shape[1:]))).clamp(0, 1)
    torch.testing.assert_close(BY_NAME["noise"].apply(x, 0.7, random, {}), expected)


def test_gaussian_noise_has_requested_spread() -> None:
    x = torch.full((4, 3, 64, 64), 0.5)
    out = BY_NAME["gaussian_noise"].apply(x, 0.05, ShiftRandom.for_range(5, 0, 4), {})
    assert abs(float((out - x).std()) - 0.05) < 2e-3
    assert abs(float((out - x).mean())) < 2e-3


def test_float64_images_are_supported() -> None:
    x = _images().double()
    for spec in SHIFTS:
        out = spec.apply(
            x, _strong(spec) / 2 if not spec.integer_intensity else 3, ShiftRandom.for_range(0, 0, 6), _state(spec)
        )
        assert out.dtype == torch.float64, spec.name


def test_bad_options_raise_spec_error() -> None:
    x = _images()
    random = ShiftRandom.for_range(0, 0, len(x))
    for name, options in [
        ("resolution", {"upsample": "lanczos"}),
        ("jpeg", {"subsampling": "4:1:1"}),
        ("stain", {"stains": "xyz"}),
        ("random_resized_crop", {"max_ratio": 0.5}),
    ]:
        with pytest.raises(SpecError):
            BY_NAME[name].apply(x, 1.0, random, options)


def test_importing_builtins_does_not_import_torch() -> None:
    code = "import sys, dabench.builtins.shifts as s; assert s.SHIFTS; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("spec", SHIFTS, ids=lambda s: s.name)
def test_cuda_matches_cpu(spec: ShiftSpec) -> None:
    x = _images()
    intensity = _strong(spec) / 2 if not spec.integer_intensity else 3.0
    cpu = spec.apply(x, intensity, ShiftRandom.for_range(1, 0, 6), _state(spec))
    gpu = spec.apply(x.cuda(), intensity, ShiftRandom.for_range(1, 0, 6, device="cuda"), _state(spec))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
