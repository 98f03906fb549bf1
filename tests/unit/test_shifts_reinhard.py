"""Reinhard's ``prepare``: resolving the reference option to L*a*b* statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dabench.builtins.shifts.reinhard import LabStats, lab_stats, prepare_reinhard
from dabench.data import DatasetSplits, LabeledSplit
from dabench.errors import SpecError
from dabench.specs import ShiftContext


def _uint8_images(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 12, 14), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _context(root: Path | None = None) -> tuple[ShiftContext, list[str]]:
    requested: list[str] = []

    def load(name: str) -> DatasetSplits:
        requested.append(name)
        seed = 1 if name.endswith(":lab2") else 0
        split = LabeledSplit(images=_uint8_images(5, seed), labels=torch.zeros(5, dtype=torch.int64))
        return DatasetSplits(train=split, test=split)

    return ShiftContext(data_root=root, load_dataset=load), requested


def test_dataset_reference_picks_train_image_by_index() -> None:
    ctx, requested = _context()
    stats = prepare_reinhard({"reference": "wbc:lab2#3"}, ctx)
    assert requested == ["wbc:lab2"]
    assert stats == lab_stats(_uint8_images(5, 1)[3])
    assert isinstance(stats, LabStats) and 0 < stats.mean[0] < 100 and min(stats.std) > 0


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
        ("wbc#5", "out of range"),
    ],
)
def test_bad_references_raise_clear_spec_errors(reference: str, message: str) -> None:
    ctx, _ = _context()
    with pytest.raises(SpecError, match=message):
        prepare_reinhard({"reference": reference}, ctx)


def test_grey_reference_statistics_are_neutral() -> None:
    stats = lab_stats(_uint8_images(1, 3)[0, :1])
    assert max(abs(stats.mean[1]), abs(stats.mean[2]), stats.std[1], stats.std[2]) < 0.02  # sRGB grey ≈ a*, b* = 0
