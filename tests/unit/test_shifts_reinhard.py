"""Reinhard's ``prepare``: resolving the reference option to L*a*b* statistics, the same for every run seed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dabench.builtins.shifts.reinhard import LabStats, canonical_order, lab_stats, prepare_reinhard
from dabench.data import DatasetSplits, LabeledSplit
from dabench.errors import SpecError
from dabench.specs import ShiftContext
from tests.conftest import data_root


def _uint8_images(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 12, 14), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


POOL = 8  # images of the fake dataset: 5 train + 3 test (lab2: other pixels)


def _pool(name: str) -> torch.Tensor:
    return _uint8_images(POOL, 1 if name.endswith(":lab2") else 0)


def _context(root: Path | None = None, seed: int = 0) -> tuple[ShiftContext, list[str]]:
    """A loader like the real ones: a fixed pool of images divided into train/test by a seeded permutation."""
    requested: list[str] = []

    def load(name: str) -> DatasetSplits:
        requested.append(name)
        images = _pool(name)
        order = torch.randperm(POOL, generator=torch.Generator().manual_seed(seed))
        labels = torch.zeros(POOL, dtype=torch.int64)
        train = LabeledSplit(images=images[order[:5]], labels=labels[:5])
        test = LabeledSplit(images=images[order[5:]], labels=labels[5:])
        return DatasetSplits(train=train, test=test)

    return ShiftContext(data_root=root, load_dataset=load), requested


def _digest(image: torch.Tensor) -> bytes:
    data = image.numpy()
    return hashlib.sha256(repr((tuple(data.shape), str(data.dtype))).encode() + data.tobytes()).digest()


def test_dataset_reference_picks_image_by_index_in_digest_order() -> None:
    ctx, requested = _context()
    stats = prepare_reinhard({"reference": "wbc:lab2#3"}, ctx)
    assert requested == ["wbc:lab2"]
    by_digest = sorted(_pool("wbc:lab2"), key=_digest)
    assert stats == lab_stats(by_digest[3])
    assert isinstance(stats, LabStats) and 0 < stats.mean[0] < 100 and min(stats.std) > 0


def test_dataset_reference_does_not_depend_on_the_run_seed() -> None:
    """Issue 9: ``#0`` of a seeded train split was another image for every seed; the digest order is not."""
    splits = [_context(seed=seed)[0].load_dataset("wbc:lab1") for seed in (0, 1, 2)]
    assert not all(torch.equal(s.train.images[0], splits[0].train.images[0]) for s in splits)  # the old way varies
    for index in range(POOL):
        stats = [prepare_reinhard({"reference": f"wbc:lab1#{index}"}, _context(seed=seed)[0]) for seed in (0, 1, 2)]
        assert stats[0] == stats[1] == stats[2]
    ordered = canonical_order(splits[0])
    assert [_digest(i) for i in ordered] == sorted(_digest(i) for i in _pool("wbc:lab1"))


@pytest.mark.skipif(data_root() is None, reason="needs the shared data root (DABENCH_DATA)")
def test_real_zheng_reference_is_the_same_for_seeds_0_1_2() -> None:
    from dabench.registry import build_registry
    from dabench.run.datasource import DataSource
    from dabench.seeding import Seeds

    registry = build_registry()
    if "wbc_zheng" not in registry.datasets.names():
        pytest.skip("the datasets plugin is not installed")
    stats = []
    for seed in (0, 1, 2):
        data = DataSource(registry, data_root(), Seeds(seed))
        ctx = ShiftContext(data_root=data.data_root, load_dataset=data.load)
        stats.append(prepare_reinhard({"reference": "wbc_zheng:lab1#0"}, ctx))
    assert stats[0] == stats[1] == stats[2]


def test_file_reference_relative_to_data_root(tmp_path: Path) -> None:
    image = _uint8_images(1, 7)[0]
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "ref.png")
    ctx, requested = _context(tmp_path)
    stats = prepare_reinhard({"reference": "ref.png"}, ctx)
    assert requested == []
    np.testing.assert_allclose(stats.mean, lab_stats(image).mean)
    np.testing.assert_allclose(stats.std, lab_stats(image).std)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("", "needs a reference"),
        ("no_such_file.png", "not an existing image file"),
        ("wbc#x", "must be an image index"),
        ("wbc#8", "out of range"),
    ],
)
def test_bad_references_raise_clear_spec_errors(reference: str, message: str) -> None:
    ctx, _ = _context()
    with pytest.raises(SpecError, match=message):
        prepare_reinhard({"reference": reference}, ctx)


def test_grey_reference_statistics_are_neutral() -> None:
    stats = lab_stats(_uint8_images(1, 3)[0, :1])
    assert max(abs(stats.mean[1]), abs(stats.mean[2]), stats.std[1], stats.std[2]) < 0.02  # sRGB grey ≈ a*, b* = 0
