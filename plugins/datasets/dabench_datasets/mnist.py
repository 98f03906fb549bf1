"""MNIST and Fashion-MNIST from their official IDX files (gzipped or not), with the official train/test split.

Counts are read from the IDX headers: the shared data root holds only the first 10,000 MNIST training images.

References
----------
LeCun, Y., Bottou, L., Bengio, Y., Haffner, P. Gradient-based learning applied to document recognition.
Proc. IEEE 86(11), 1998.
Xiao, H., Rasul, K., Vollgraf, R. Fashion-MNIST: a novel image dataset for benchmarking machine learning
algorithms. arXiv:1708.07747, 2017.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LoadContext
from dabench_datasets.idx import read_idx
from dabench_datasets.reading import dataset_folder, first_existing, labeled

if TYPE_CHECKING:
    from dabench import LabeledSplit


def _read_split(folder: Path, prefix: str, dataset: str) -> LabeledSplit:
    import numpy as np

    paths = []
    for kind, rank in (("images", 3), ("labels", 1)):
        stem = f"{prefix}-{kind}-idx{rank}-ubyte"
        paths.append(first_existing(folder, (f"{stem}.gz", stem), dataset=dataset, what=f"{prefix} {kind}"))
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(
            f"{paths[0]} / {paths[1]}: expected a rank-3 image file and a rank-1 label file, got "
            f"shapes {images.shape} and {labels.shape}."
        )
    if images.shape[0] > labels.shape[0]:
        raise DataError(f"{paths[0]} has {images.shape[0]} images but {paths[1]} only {labels.shape[0]} labels.")
    # The official training labels may cover more images than a partial image file holds: keep the first N.
    labels = labels[: images.shape[0]]
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"{paths[1]}: labels must be digits 0-9, found {int(labels.max())}.")
    return labeled(images, labels.astype(np.int64), source=str(paths[0]))


def _load(ctx: LoadContext, folder: str, dataset: str) -> DatasetSplits:
    root = dataset_folder(ctx, folder, dataset)
    return DatasetSplits(
        train=_read_split(root, "train", dataset), test=_read_split(root, "t10k", dataset), source=str(root)
    )


def load_mnist(ctx: LoadContext) -> DatasetSplits:
    """MNIST (LeCun et al. 1998): 28×28 grey digits, official train (≤ 60,000) and test (10,000) splits."""
    return _load(ctx, "mnist", "mnist")


def load_fashion_mnist(ctx: LoadContext) -> DatasetSplits:
    """Fashion-MNIST (Xiao et al. 2017): 28×28 grey clothing images, official 60,000 / 10,000 split."""
    return _load(ctx, "fashion_mnist", "fashion_mnist")
