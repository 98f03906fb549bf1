"""MedMNIST-format npz files: arrays ``train_images``, ``train_labels``, ``val_images``, ``val_labels``,
``test_images``, ``test_labels`` (images ``[N, H, W]`` or ``[N, H, W, 3]`` uint8, labels ``[N, 1]``), read from
``<data root>/medmnist/<stem>.npz`` with their official train/val/test split.

* ``medmnist:<stem>`` reads any such file, official (``medmnist:bloodmnist``) or a user's own in the same format;
* each official single-label 2D subset is also registered under its own name (``bloodmnist``, ``pathmnist``, ...)
  with its exact class count and shape; its domain picks a MedMNIST+ size (``bloodmnist:64`` →
  ``bloodmnist_64.npz``; default 28).

Multi-label files (ChestMNIST) are rejected with a clear error: dabench's classification tasks are single-label.

References
----------
Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., Ni, B. MedMNIST v2 — a large-scale lightweight
benchmark for 2D and 3D biomedical image classification. Scientific Data 10, 41, 2023.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from dabench import DataError, DatasetSplits, LabeledSplit, LoadContext, SpecError
from dabench_datasets.reading import dataset_folder, fetch_hint, labeled

FOLDER = "medmnist"
SIZES = (28, 64, 128, 224)
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


def _split(archive: object, prefix: str, path: Path) -> LabeledSplit:
    import numpy as np

    images, labels = archive[f"{prefix}_images"], archive[f"{prefix}_labels"]  # type: ignore[index]
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise DataError(
            f"{path}: {prefix}_labels has shape {labels.shape} (multi-label, like ChestMNIST); dabench "
            "classification needs one label per image."
        )
    labels = labels.reshape(-1)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise DataError(
            f"{path}: {prefix}_images must be uint8 [N, H, W] or [N, H, W, 1|3]; got {images.dtype} {images.shape}."
        )
    if len(labels) != len(images) or (labels.size and labels.min() < 0):
        raise DataError(
            f"{path}: {prefix}_images has {len(images)} images but {prefix}_labels {len(labels)} "
            "labels (or negative labels)."
        )
    return labeled(images, labels.astype(np.int64), channels_last=images.ndim == 4)


def read_npz(path: Path) -> DatasetSplits:
    """The official train/val/test splits of one MedMNIST-format npz file."""
    import numpy as np

    keys = [f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(
                    f"{path} is not a MedMNIST-format npz: missing {', '.join(missing)} (expected {', '.join(keys)})."
                )
            train, val, test = (_split(archive, s, path) for s in ("train", "val", "test"))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is truncated or not an npz file ({exc}); delete it and download it again.") from exc
    return DatasetSplits(train=train, val=val, test=test)


def _file(ctx: LoadContext, dataset: str, stem: str) -> Path:
    path = dataset_folder(ctx, FOLDER, dataset) / f"{stem}.npz"
    if not path.exists():
        present = sorted(p.stem for p in path.parent.glob("*.npz"))
        raise DataError(
            f"dataset {dataset!r}: {path} does not exist. npz files found there: "
            f"{', '.join(present) or 'none'}. {fetch_hint(dataset)}"
        )
    return path


def load_medmnist(ctx: LoadContext) -> DatasetSplits:
    """Any MedMNIST-format npz (Yang et al. 2023), selected by file stem: ``medmnist:bloodmnist``."""
    stem = ctx.domain or "bloodmnist"
    if "/" in stem or "\\" in stem or stem.startswith("."):
        raise SpecError(f"dataset 'medmnist': the domain is an npz file stem under '{FOLDER}/'; got {stem!r}.")
    return read_npz(_file(ctx, "medmnist", stem))


def load_official(name: str, ctx: LoadContext) -> DatasetSplits:
    """One official MedMNIST subset (Yang et al. 2023), domain = image size (28, 64, 128 or 224)."""
    size = ctx.domain or "28"
    if size not in {str(s) for s in SIZES}:
        raise SpecError(f"dataset {name!r}: the domain is a MedMNIST image size, one of {SIZES}; got {size!r}.")
    splits = read_npz(_file(ctx, name, name if size == "28" else f"{name}_{size}"))
    classes, channels = OFFICIAL[name]
    for split in (splits.train, splits.val, splits.test):
        too_many = len(split) > 0 and int(split.labels.max()) >= classes if split is not None else False
        if split is not None and (split.images.shape[1] != channels or too_many):
            raise DataError(
                f"dataset {name!r}: expected {channels}-channel images and labels < {classes}; the file "
                "does not match the official subset."
            )
    return splits
