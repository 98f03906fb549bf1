"""White blood cells of Zheng et al. 2018 from two labs, with 5-class labels and nucleus/cytoplasm masks.

Domains: ``lab1`` = "Dataset 1" (300 images, 120×120, Jiangxi Tecom, rapid stain) and ``lab2`` = "Dataset 2"
(100 images, 300×300, CellaVision blog). Read from the published layout ``Dataset 1/NNN.bmp`` + ``NNN.png`` masks and
``Class Labels of Dataset 1.csv`` — extracted under ``wbc_seg_zheng2018/`` or packed as ``wbc_seg_zheng2018.tar.gz``.

* ``wbc_zheng`` (classification): labels 1-5 → 0 neutrophil, 1 lymphocyte, 2 monocyte, 3 eosinophil, 4 basophil
  (the class names PBC uses); images resized to ``size`` (default 28, PBC's default, so PBC → Zheng works as is).
* ``wbc_zheng_seg`` (segmentation): masks 0/128/255 → 0 background, 1 cytoplasm, 2 nucleus (stray values < 64 →
  background, < 192 → cytoplasm, else nucleus); default size 120 (lab 1's native size; nearest-neighbour masks).

Both use the same seeded split, stratified by class: 7:1:2 train/val/test. Option ``size`` (``wbc_zheng:lab2,size=64``).

References
----------
Zheng, X., Wang, Y., Wang, G., Liu, J. Fast and robust segmentation of white blood cell images by self-supervised
learning. Micron 107, 55-71, 2018.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LoadContext, SpecError, stratified_split
from dabench_datasets.options import parse_domain
from dabench_datasets.reading import dataset_folder, decode_image, fetch_hint, labeled, read_members, resize

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

FOLDER = "wbc_seg_zheng2018"
ARCHIVE = "wbc_seg_zheng2018.tar.gz"
LABS = {"lab1": "Dataset 1", "lab2": "Dataset 2"}
CLASS_NAMES = ("neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil")
SEG_CLASS_NAMES = ("background", "cytoplasm", "nucleus")


def mask_classes(mask: np.ndarray) -> np.ndarray:
    """Grey mask values → class ids: < 64 background (0), < 192 cytoplasm (1, nominally 128), else nucleus (2)."""
    import numpy as np

    return np.digitize(mask, (64, 192)).astype(np.int64)


def _read_lab(ctx: LoadContext, dataset: str, lab: str) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, Path]:
    """Raw images, raw masks and 0-based class labels of one lab, in image-ID order, and the folder or archive."""
    import numpy as np

    folder = dataset_folder(ctx, FOLDER, dataset)
    subdir, csv_name = LABS[lab], f"Class Labels of {LABS[lab]}.csv"
    source = folder if (folder / subdir).is_dir() else folder / ARCHIVE
    if not source.exists():
        raise DataError(f"dataset {dataset!r}: neither {folder / subdir}/ nor {source} exists. {fetch_hint(dataset)}")
    members = read_members(source, lambda n: n.startswith(f"{subdir}/") or n == csv_name)
    if csv_name not in members:
        raise DataError(f"dataset {dataset!r}: {source} has no '{csv_name}' (the class labels of {lab}).")
    rows = list(csv.reader(io.StringIO(members[csv_name].decode("utf-8-sig", "replace"))))[1:]
    try:
        table = {int(row[0]): int(row[1]) for row in rows if row}
    except (ValueError, IndexError) as exc:
        raise DataError(f"{source}/{csv_name}: expected 'image ID,class label' rows of integers ({exc}).") from exc
    images, masks = [], []
    for image_id in sorted(table):
        stem = f"{subdir}/{image_id:03d}"
        if f"{stem}.bmp" not in members or f"{stem}.png" not in members:
            raise DataError(
                f"dataset {dataset!r}: {source} lacks {stem}.bmp or its mask {stem}.png; the archive is incomplete."
            )
        images.append(decode_image(members[f"{stem}.bmp"], f"{source}/{stem}.bmp", "RGB"))
        masks.append(decode_image(members[f"{stem}.png"], f"{source}/{stem}.png", "L"))
    labels = np.array([table[i] - 1 for i in sorted(table)], dtype=np.int64)
    if labels.size == 0 or labels.min() < 0 or labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{source}/{csv_name}: class labels must be 1-{len(CLASS_NAMES)}.")
    return images, masks, labels, source


def _load(ctx: LoadContext, dataset: str, default_size: int, segmentation: bool) -> DatasetSplits:
    import numpy as np

    options = parse_domain(ctx.domain, {"size": default_size}, dataset=dataset)
    lab = options.name or "lab1"
    if lab not in LABS:
        raise SpecError(f"dataset {dataset!r}: domain {lab!r} is not one of {', '.join(LABS)}.")
    size = options["size"]
    if not 8 <= size <= 512:
        raise SpecError(f"dataset {dataset!r}: size must be between 8 and 512; got {size}.")
    images, masks, labels, source = _read_lab(ctx, dataset, lab)
    x = np.stack([resize(image, size) for image in images])
    y = np.stack([mask_classes(resize(mask, size, nearest=True)) for mask in masks]) if segmentation else labels
    parts = stratified_split(labels, (0.7, 0.1, 0.2), ctx.rng)
    train, val, test = (labeled(x[p], y[p], channels_last=True) for p in parts)
    return DatasetSplits(train=train, val=val, test=test, input_shape=(3, size, size), source=str(source))


def load_wbc_zheng(ctx: LoadContext) -> DatasetSplits:
    """Zheng et al. 2018 white blood cells, 5-class classification, domain ``lab1`` or ``lab2``."""
    return _load(ctx, "wbc_zheng", 28, segmentation=False)


def load_wbc_zheng_seg(ctx: LoadContext) -> DatasetSplits:
    """Zheng et al. 2018 white blood cells, background/cytoplasm/nucleus segmentation, ``lab1`` or ``lab2``."""
    return _load(ctx, "wbc_zheng_seg", 120, segmentation=True)
