"""Line up two datasets before a cross-dataset run: the same image shape and channels, the same label space.

``mnist → usps`` resizes USPS to 28×28; ``mnist → mnist_m`` converts RGB MNIST-M to the source's single channel
(ITU-R 601 luma); ``pbc → wbc_zheng`` keeps the classes both datasets name (the five shared white-cell types).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from dabench.data import DatasetSplits, LabeledSplit
from dabench.errors import SpecError

_LUMA = (0.299, 0.587, 0.114)


def harmonize_images(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 ``[N, C', H', W']`` -> uint8 ``[N, C, H, W]`` (antialiased bilinear resize; grey↔RGB conversion)."""
    channels, height, width = shape
    x = images
    if x.shape[1] != channels:
        if x.shape[1] == 1 and channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 3 and channels == 1:
            weights = torch.tensor(_LUMA, dtype=torch.float32).view(1, 3, 1, 1)
            x = (x.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
        else:
            raise SpecError(f"cannot convert {x.shape[1]}-channel images to {channels} channels.")
    if tuple(x.shape[2:]) != (height, width):
        resized = F.interpolate(x.float(), size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        x = resized.round_().clamp_(0, 255).to(torch.uint8)
    return x.contiguous()


def harmonize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Integer masks ``[N, H', W']`` -> ``[N, H, W]`` by nearest-neighbour resizing."""
    if tuple(masks.shape[1:]) == size:
        return masks
    return F.interpolate(masks[:, None].float(), size=size, mode="nearest")[:, 0].to(masks.dtype)


def harmonize_split(split: LabeledSplit, shape: tuple[int, int, int], segmentation: bool) -> LabeledSplit:
    labels = harmonize_masks(split.labels, shape[1:]) if segmentation else split.labels
    return LabeledSplit(images=harmonize_images(split.images, shape), labels=labels, groups=split.groups)


def shared_classes(source: Sequence[str], target: Sequence[str]) -> list[str]:
    """Class names present in both, in the source's order; a clear error if there are none."""
    shared = [name for name in source if name in set(target)]
    if not shared:
        raise SpecError(
            f"source classes {list(source)} and target classes {list(target)} have no name in common: "
            "a cross-dataset run needs a shared label space."
        )
    return shared


def restrict_classes(split: LabeledSplit, names: Sequence[str], keep: Sequence[str]) -> LabeledSplit:
    """Keep samples whose class is in ``keep`` and relabel them ``0 .. len(keep)-1`` in ``keep``'s order."""
    mapping = torch.full((len(names),), -1, dtype=torch.int64)
    for new, name in enumerate(keep):
        mapping[list(names).index(name)] = new
    labels = mapping[split.labels]
    index = torch.nonzero(labels >= 0).flatten()
    groups = split.groups[index] if split.groups is not None else None
    return LabeledSplit(images=split.images[index], labels=labels[index], groups=groups)


def restrict_splits(splits: DatasetSplits, names: Sequence[str], keep: Sequence[str]) -> DatasetSplits:
    val = restrict_classes(splits.val, names, keep) if splits.val is not None else None
    return DatasetSplits(
        train=restrict_classes(splits.train, names, keep),
        test=restrict_classes(splits.test, names, keep),
        val=val,
        class_names=tuple(keep),
        source=splits.source,
    )
