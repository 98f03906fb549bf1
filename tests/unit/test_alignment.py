from __future__ import annotations

import pytest
import torch

from dabench.data import LabeledSplit
from dabench.errors import SpecError
from dabench.run import alignment


def test_harmonize_channels_and_size() -> None:
    grey = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8)
    rgb = alignment.harmonize_images(grey, (3, 28, 28))
    assert rgb.shape == (3, 3, 28, 28) and rgb.dtype == torch.uint8
    assert torch.equal(rgb[:, 0], rgb[:, 2])
    back = alignment.harmonize_images(rgb, (1, 28, 28))
    assert back.shape == (3, 1, 28, 28)
    assert (back.int() - rgb[:, :1].int()).abs().max() <= 1  # equal channels: luma is the channel itself
    flat = torch.full((2, 3, 8, 8), 77, dtype=torch.uint8)
    assert torch.all(alignment.harmonize_images(flat, (3, 20, 20)) == 77)


def test_restrict_classes_relabels_in_keep_order() -> None:
    split = LabeledSplit(images=torch.zeros(5, 1, 2, 2, dtype=torch.uint8), labels=torch.tensor([0, 1, 2, 3, 1]))
    out = alignment.restrict_classes(split, ["a", "b", "c", "d"], ["c", "b"])
    assert out.labels.tolist() == [1, 0, 1]
    assert alignment.shared_classes(["a", "b", "c"], ["c", "x", "a"]) == ["a", "c"]
    with pytest.raises(SpecError, match="no name in common"):
        alignment.shared_classes(["a"], ["b"])
