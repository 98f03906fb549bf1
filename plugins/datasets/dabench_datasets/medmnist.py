"""MedMNIST-format npz files: arrays ``train_images``, ``train_labels``, ``val_images``, ``val_labels``,
``test_images``, ``test_labels`` (images ``[N, H, W]`` grey or ``[N, H, W, 3]`` RGB, uint8; labels ``[N, 1]`` or
``[N]``), read from ``<data root>/medmnist/<stem>.npz`` with their official train/val/test split.

* ``medmnist:<stem>`` reads any such file, official (``medmnist:bloodmnist``) or a user's own in the same format:
  channels and image size come from the file, and so does the number of classes (largest label + 1), except for
  the official subsets' stems (``pathmnist``, ``pathmnist_64``, ...), whose class count is known and checked;
* each official single-label 2D subset is also registered under its own name (``bloodmnist``, ``pathmnist``, ...)
  with its exact class count and channels; its domain picks a MedMNIST+ size (``bloodmnist:64`` →
  ``bloodmnist_64.npz``; default 28), and a file of another size or channel count is an error.

Multi-label files (ChestMNIST) are rejected with a clear error: dabench's classification tasks are single-label.

References
----------
Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., Ni, B. MedMNIST v2 — a large-scale lightweight
benchmark for 2D and 3D biomedical image classification. Scientific Data 10, 41, 2023.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LabeledSplit, LoadContext, SpecError
from dabench_datasets.catalog import BLOOD
from dabench_datasets.reading import dataset_folder, fetch_hint, labeled
from dabench_datasets.reading import read_npz as read_arrays

if TYPE_CHECKING:
    import numpy as np

FOLDER = "medmnist"
SIZES = (28, 64, 128, 224)
SPLITS = ("train", "val", "test")
KEYS = tuple(f"{s}_{k}" for s in SPLITS for k in ("images", "labels"))
# name -> (number of classes, channels), MedMNIST v2 (Yang et al. 2023), single-label 2D subsets.
OFFICIAL = {
    "pathmnist": (9, 3),
    "dermamnist": (7, 3),
    "octmnist": (4, 1),
    "pneumoniamnist": (2, 1),
    "retinamnist": (5, 3),
    "breastmnist": (2, 1),
    "bloodmnist": (8, 3),
    "tissuemnist": (8, 1),
    "organamnist": (11, 1),
    "organcmnist": (11, 1),
    "organsmnist": (11, 1),
}


def _split(images: np.ndarray, labels: np.ndarray, prefix: str, path: Path) -> LabeledSplit:
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise DataError(
            f"{path}: {prefix}_labels has shape {labels.shape} (multi-label, like ChestMNIST); dabench "
            "classification needs one label per image."
        )
    if labels.ndim not in (1, 2):
        raise DataError(f"{path}: {prefix}_labels has shape {labels.shape}; expected [N, 1] or [N].")
    labels = labels.reshape(-1)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise DataError(
            f"{path}: {prefix}_images has shape {images.shape}; expected [N, H, W] (grey) or [N, H, W, 3] (RGB)."
        )
    if len(labels) != len(images):
        raise DataError(
            f"{path}: {prefix}_images has {len(images)} images but {prefix}_labels {len(labels)} labels; every "
            "image needs exactly one label."
        )
    return labeled(images, labels, channels_last=images.ndim == 4, source=str(path))


def read_npz(path: Path) -> DatasetSplits:
    """The official train/val/test splits of one MedMNIST-format npz file, ``source`` = the file."""
    arrays = read_arrays(path, KEYS, what="a MedMNIST-format npz")
    train, val, test = (_split(arrays[f"{s}_images"], arrays[f"{s}_labels"], s, path) for s in SPLITS)
    return DatasetSplits(train=train, val=val, test=test, source=str(path))


def _file(ctx: LoadContext, dataset: str, stem: str) -> Path:
    path = dataset_folder(ctx, FOLDER, dataset) / f"{stem}.npz"
    if not path.exists():
        present = sorted(p.stem for p in path.parent.glob("*.npz"))
        raise DataError(
            f"dataset {dataset!r}: {path} does not exist. npz files found there: "
            f"{', '.join(present) or 'none'}. {fetch_hint(dataset)}"
        )
    return path


def official_subset(stem: str) -> str | None:
    """The official subset a file stem names (``pathmnist``, ``pathmnist_64`` → ``pathmnist``), else ``None``."""
    base, _, size = stem.partition("_")
    return base if base in OFFICIAL and (not size or size in {str(s) for s in SIZES}) else None


def load_medmnist(ctx: LoadContext) -> DatasetSplits:
    """Any MedMNIST-format npz (Yang et al. 2023), selected by file stem: ``medmnist:bloodmnist``. Shape and classes
    come from the file (the official subsets' class counts are known)."""
    import dataclasses

    import torch

    stem = ctx.domain or "bloodmnist"
    if "/" in stem or "\\" in stem or stem.startswith("."):
        raise SpecError(f"dataset 'medmnist': the domain is an npz file stem under '{FOLDER}/'; got {stem!r}.")
    splits = read_npz(_file(ctx, "medmnist", stem))
    subset = official_subset(stem)
    if subset is not None:
        size = int(stem.partition("_")[2] or 28)
        classes, channels = OFFICIAL[subset]
        space = {"class_names": BLOOD} if subset == "bloodmnist" else {"num_classes": classes}
        return dataclasses.replace(splits, input_shape=(channels, size, size), **space)  # type: ignore[arg-type]
    parts = [split for split in (splits.train, splits.val, splits.test) if split is not None and len(split)]
    # Non-finite or non-integer labels are rejected by the core's checks; they must not break the count here.
    found = max((int(torch.nan_to_num(split.labels.max().double(), nan=0.0)) + 1 for split in parts), default=1)
    shape = tuple(splits.train.images.shape[1:]) if len(splits.train) else None
    return dataclasses.replace(splits, input_shape=shape, num_classes=max(found, 1))  # type: ignore[arg-type]


def load_official(name: str, ctx: LoadContext) -> DatasetSplits:
    """One official MedMNIST subset (Yang et al. 2023), domain = image size (28, 64, 128 or 224)."""
    import dataclasses

    size = ctx.domain or "28"
    if size not in {str(s) for s in SIZES}:
        raise SpecError(f"dataset {name!r}: the domain is a MedMNIST image size, one of {SIZES}; got {size!r}.")
    splits = read_npz(_file(ctx, name, name if size == "28" else f"{name}_{size}"))
    return dataclasses.replace(splits, input_shape=(OFFICIAL[name][1], int(size), int(size)))
