"""PBC: 17,092 JPEGs of normal peripheral blood cells in 8 classes (CellaVision DM96, Hospital Clinic Barcelona),
the source of BloodMNIST. No official split: a seeded, stratified 7:1:2 train/val/test split is made in code.

Domain = image size (``pbc:28``, ``pbc:64``; default 28) with option ``source`` = ``auto`` | ``npz`` | ``raw``:

* ``npz``: ``pbc_28x28_bloodmnist_style.npz`` (keys ``images``, ``labels``, ``filenames``, ``classes``), 28×28 only;
* ``raw``: the published layout ``PBC_dataset_normal_DIB/<class>/*.jpg`` — a folder, the Mendeley zip
  ``PBC_dataset_normal_DIB.zip``, or the 800-image ``pbc_raw_subset_100_per_class.tar`` — centre-cropped to 200×200
  and resized (bicubic) like BloodMNIST;
* ``auto`` (default): the npz at size 28 when present, the raw JPEGs otherwise.

References
----------
Acevedo, A., Merino, A., Alférez, S., Molina, Á., Boldú, L., Rodellar, J. A dataset of microscopic peripheral blood
cell images for development of automatic recognition systems. Data in Brief 30, 105474, 2020.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LoadContext, SpecError, stratified_split
from dabench_datasets.options import parse_domain
from dabench_datasets.reading import dataset_folder, decode_image, fetch_hint, labeled, read_members, resize
from dabench_datasets.reading import read_npz as read_arrays

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

FOLDER = "pbc_acevedo2020"
NPZ = "pbc_28x28_bloodmnist_style.npz"
RAW_SOURCES = ("PBC_dataset_normal_DIB", "PBC_dataset_normal_DIB.zip", "pbc_raw_subset_100_per_class.tar")
FOLDER_CLASSES = ("basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet")
CLASS_NAMES = (
    "basophil",
    "eosinophil",
    "erythroblast",
    "immature_granulocyte",
    "lymphocyte",
    "monocyte",
    "neutrophil",
    "platelet",
)
CROP = 200


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28, 3]`` and labels ``[N]`` from the 28×28 npz, checked against the class order; values are
    returned as stored (the core checks them)."""
    arrays = read_arrays(path, ("images", "labels", "classes"), what="the PBC 28×28 npz")
    images, labels, classes = arrays["images"], arrays["labels"], arrays["classes"]
    if tuple(str(c) for c in classes) != FOLDER_CLASSES:
        raise DataError(f"{path}: classes {list(classes)} differ from the expected order {list(FOLDER_CLASSES)}.")
    if images.ndim != 4 or images.shape[3] != 3 or labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{path}: expected images [N, 28, 28, 3] with N labels, got {images.shape}, {labels.shape}.")
    return images, labels


def _crop_resize(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = (height - CROP) // 2, (width - CROP) // 2
    return resize(image[top : top + CROP, left : left + CROP], size)


def read_raw(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, size, size, 3]`` and labels from ``<class>/<file>.jpg`` members of a folder or archive."""
    import numpy as np

    def keep(name: str) -> bool:
        parts = name.split("/")
        return (
            len(parts) >= 2
            and parts[-2] in FOLDER_CLASSES
            and parts[-1].lower().endswith(".jpg")
            and not parts[-1].startswith(".")
        )

    members = read_members(path, keep)
    if not members:
        raise DataError(f"{path}: no '<class>/<file>.jpg' images found (classes {', '.join(FOLDER_CLASSES)}).")
    names = sorted(members, key=lambda n: "/".join(n.split("/")[-2:]))
    images = np.stack([_crop_resize(decode_image(members[n], f"{path}/{n}", "RGB"), size) for n in names])
    labels = np.array([FOLDER_CLASSES.index(n.split("/")[-2]) for n in names], dtype=np.int64)
    return images, labels


def _read(folder: Path, size: int, source: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """Images, labels and the file or folder they came from."""
    if source not in ("auto", "npz", "raw"):
        raise SpecError(f"dataset 'pbc': source must be auto, npz or raw; got {source!r}.")
    if source == "npz" and size != 28:
        raise SpecError(f"dataset 'pbc': the npz holds 28×28 images; use source=raw for size {size}.")
    if source != "raw" and size == 28 and (folder / NPZ).exists():
        return (*read_npz(folder / NPZ), folder / NPZ)
    if source == "npz":
        raise DataError(f"dataset 'pbc': {folder / NPZ} does not exist. {fetch_hint('pbc')}")
    raw = next((folder / s for s in RAW_SOURCES if (folder / s).exists()), None)
    if raw is None:
        wanted = " or ".join(f"'{s}'" for s in (NPZ, *RAW_SOURCES) if size == 28 or s != NPZ)
        raise DataError(f"dataset 'pbc' at {size}×{size}: none of {wanted} exists in {folder}. {fetch_hint('pbc')}")
    if raw.name != RAW_SOURCES[0] and raw.name != RAW_SOURCES[1]:
        log.warning("pbc: reading the 800-image subset %s (the full set is PBC_dataset_normal_DIB).", raw)
    return (*read_raw(raw, size), raw)


def load_pbc(ctx: LoadContext) -> DatasetSplits:
    """PBC (Acevedo et al. 2020), 8 classes, stratified seeded 7:1:2 train/val/test split."""
    options = parse_domain(ctx.domain, {"source": "auto"}, dataset="pbc")
    try:
        size = int(options.name or 28)
    except ValueError as exc:
        raise SpecError(
            f"dataset 'pbc': the domain is an image size such as 'pbc:28' or 'pbc:64,source=raw'; got {ctx.domain!r}."
        ) from exc
    if not 8 <= size <= 512:
        raise SpecError(f"dataset 'pbc': image size must be between 8 and 512; got {size}.")
    images, labels, path = _read(dataset_folder(ctx, FOLDER, "pbc"), size, options["source"])
    train, val, test = (
        labeled(images[p], labels[p], channels_last=True, source=str(path))
        for p in stratified_split(labels, (0.7, 0.1, 0.2), ctx.rng)
    )
    return DatasetSplits(train=train, val=val, test=test, input_shape=(3, size, size), source=str(path))
