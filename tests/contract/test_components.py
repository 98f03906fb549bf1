"""Every registered component passes the public contract kit (dabench.testing), third-party ones included; the kit
itself rejects the shift mistakes plugin authors make."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dabench import ShiftRandom, ShiftSpec, testing
from dabench.registry import build_registry
from dabench.specs import LoadContext, ShiftContext
from tests.conftest import data_root

REGISTRY = build_registry()

#: options that let a shift whose default needs a reference run without data files
SHIFT_OPTIONS: dict[str, dict[str, Any]] = {"reinhard": {"reference": "synthetic#0"}}


def _load_builtin(name: str) -> Any:
    """A ``ShiftContext.load_dataset`` over the datasets that need no data root."""
    dataset, _, domain = name.partition(":")
    return REGISTRY.datasets.get(dataset).load(
        LoadContext(root=None, rng=np.random.default_rng(0), domain=domain or None)
    )


@pytest.mark.parametrize("name", REGISTRY.methods.names())
def test_method_contract(name: str) -> None:
    testing.check_method(REGISTRY.methods.get(name))


@pytest.mark.parametrize("name", REGISTRY.shifts.names())
def test_shift_contract(name: str) -> None:
    spec = REGISTRY.shifts.get(name)
    options = SHIFT_OPTIONS.get(name)
    if options is None and spec.prepare is not None and spec.defaults.get("reference", None) in ("", None):
        pytest.skip(f"{name} needs a reference; covered by its own tests")
    testing.check_shift(spec, ctx=ShiftContext(data_root=None, load_dataset=_load_builtin), options=options)


@pytest.mark.parametrize("name", REGISTRY.metrics.names())
def test_metric_contract(name: str) -> None:
    testing.check_metric(REGISTRY.metrics.get(name))


@pytest.mark.parametrize("name", REGISTRY.validators.names())
def test_validator_contract(name: str) -> None:
    testing.check_validator(REGISTRY.validators.get(name))


@pytest.mark.parametrize("name", REGISTRY.benefit_predictors.names())
def test_benefit_predictor_contract(name: str) -> None:
    testing.check_benefit_predictor(REGISTRY.benefit_predictors.get(name))


def test_every_built_in_benefit_predictor_is_registered() -> None:
    names = set(REGISTRY.benefit_predictors.names())
    assert {"atc_mc", "atc_ne", "doc", "average_confidence", "cot", "mano", "nuclear_norm", "agreement"} <= names
    assert {"latent_w2_gaussian", "pixel_mean_diff", "degradation"} <= names


def tiny_mask_folder(root: Path, n: int = 6, size: int = 12) -> Path:
    """``images/*.png`` + ``masks/*.png`` (0/255 discs) for the ``maskfolder`` loader."""
    from PIL import Image

    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        mask = ((yy - size / 2) ** 2 + (xx - size / 2 - i % 3) ** 2 < (size / 4) ** 2).astype(np.uint8) * 255
        image = (mask * 0.6 + 40 + i).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"s{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
    return root


@pytest.mark.parametrize("name", REGISTRY.datasets.names())
def test_dataset_contract(name: str, tmp_path: Path) -> None:
    spec = REGISTRY.datasets.get(name)
    root = data_root()
    if name == "maskfolder":  # a user's own folder: the kit checks it on a tiny one made here
        testing.check_dataset(spec, None, domain=f"path={tiny_mask_folder(tmp_path)},values=0|255")
        return
    if spec.needs_data_root and (root is None or not (root / (spec.folder or name)).exists()):
        pytest.skip(f"{name}: data not present under DABENCH_DATA")
    if spec.domains and "*" not in spec.domains:
        for domain in spec.domains:
            testing.check_dataset(spec, root, domain=domain)
    else:
        testing.check_dataset(spec, root)


def test_example_plugin_passes_the_kit(example_plugin_path: object) -> None:
    registry = build_registry()
    for kind, check in (
        ("method", testing.check_method),
        ("shift", testing.check_shift),
        ("metric", testing.check_metric),
    ):
        table = registry.table(kind)
        name = {"method": "entmin", "shift": "invert", "metric": "top2_accuracy"}[kind]
        assert table.providers[name] == "example"
        check(table.get(name))


# ------------------------------------------------------------------------------ the kit catches broken shifts

Apply = Callable[[torch.Tensor, float, ShiftRandom, Any], torch.Tensor]


def _global_torch(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    return (images + intensity * torch.rand(images.shape)).clamp(0, 1)


def _global_numpy(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    return (images + intensity * float(np.random.rand())).clamp(0, 1)


def _global_python(images: torch.Tensor, intensity: float, _r: ShiftRandom, state: Any) -> torch.Tensor:
    return (images + intensity * random.random()).clamp(0, 1)


def _overshoots_at_high_end(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    noisy = images + intensity * random.uniform(tuple(images.shape[1:]))
    return noisy if intensity == 1 else noisy.clamp(0, 1)  # forgets to clamp only at the top of the range


def _crops_at_high_end(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    return images[:, :, 1:, 1:] if intensity == 1 else images * (1 - intensity / 2)


def _batch_noise(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)  # seeded, but per batch: sample i's noise depends on its batch position
    return (images + intensity * torch.rand(images.shape, generator=g)).clamp(0, 1)


def _not_identity(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    return images * 0.9


def _mutates(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    return images.mul_(1 - intensity / 2)


def _half_float(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any) -> torch.Tensor:
    return images.half()


BROKEN: list[tuple[Apply, str]] = [
    (_global_torch, "global torch"),
    (_global_numpy, "global numpy"),
    (_global_python, "global Python"),
    (_overshoots_at_high_end, r"outside \[0, 1\]"),
    (_crops_at_high_end, "output shape"),
    (_batch_noise, "depends on its batch"),
    (_not_identity, "is not the identity"),
    (_mutates, "mutated its input"),
    (_half_float, "dtype"),
]


@pytest.mark.parametrize(("apply", "message"), BROKEN, ids=[fn.__name__.strip("_") for fn, _ in BROKEN])
def test_check_shift_rejects(apply: Apply, message: str) -> None:
    spec = ShiftSpec(name="broken", apply=apply, intensity_range=(0.0, 1.0))
    before = torch.get_rng_state()
    with pytest.raises(AssertionError, match=message):
        testing.check_shift(spec)
    assert torch.equal(torch.get_rng_state(), before), "check_shift must restore the global RNG it caught in use"


def test_global_rng_message_points_to_the_random_argument() -> None:
    spec = ShiftSpec(name="rand", apply=_global_torch, intensity_range=(0.0, 1.0))
    with pytest.raises(AssertionError, match="from the `random` argument"):
        testing.check_shift(spec)


def test_shift_intensities_cover_the_range() -> None:
    blur = ShiftSpec(name="k", apply=_not_identity, intensity_range=(0.0, 63.0), integer_intensity=True)
    levels = testing.shift_intensities(blur)
    assert {0.0, 1.0, 62.0, 63.0} <= set(levels) and all(v == int(v) for v in levels) and len(levels) >= 6
    signed = ShiftSpec(name="s", apply=_not_identity, intensity_range=(-1.0, 3.0))
    assert testing.shift_intensities(signed) == [-1.0, 0.0, 1.0, 2.0, 3.0]
    offset = ShiftSpec(name="o", apply=_not_identity, intensity_range=(1.0, 2.0))
    assert min(testing.shift_intensities(offset)) == 1.0 and max(testing.shift_intensities(offset)) == 2.0
