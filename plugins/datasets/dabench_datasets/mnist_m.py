"""MNIST-M: MNIST digits blended over BSDS500 colour patches, 32×32 RGB PNGs, from the published layout
``mnist_m_<split>/NNNNNNNN.png`` (a folder, or packed as ``mnist_m_<split>.tar.gz``) plus
``mnist_m_<split>_labels.txt`` (lines ``00000000.png 7``).

When the training split is present it is used as is. Without it (the shared data root holds the test split only),
the 9,001 test images are split 7:3, stratified and seeded by the run seed, into train and test — logged as a warning.

References
----------
Ganin, Y., Lempitsky, V. Unsupervised domain adaptation by backpropagation. ICML 2015.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LoadContext, stratified_split
from dabench_datasets.reading import dataset_folder, decode_image, fetch_hint, labeled, read_members

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def _read_labels(path: Path) -> dict[str, int]:
    labels: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) > 9:
            raise DataError(f"{path}, line {number}: expected '<file>.png <digit>', got {line!r}.")
        labels[parts[0]] = int(parts[1])
    return labels


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels of one split, or ``None`` when none of its files is there."""
    import numpy as np

    labels_path = folder / f"mnist_m_{split}_labels.txt"
    sources = [folder / f"mnist_m_{split}", folder / f"mnist_m_{split}.tar.gz", folder / f"mnist_m_{split}.tar"]
    source = next((s for s in sources if s.exists()), None)
    if source is None and not labels_path.exists():
        return None
    if source is None or not labels_path.exists():
        wanted = " or ".join(str(s) for s in sources) if source is None else str(labels_path)
        raise DataError(
            f"dataset 'mnist_m': the {split} split needs both its images and its labels file; "
            f"missing {wanted}. {fetch_hint('mnist_m')}"
        )
    labels = _read_labels(labels_path)
    members = read_members(source, lambda name: name.endswith(".png"))
    names = sorted(members)
    unlabeled = [n for n in names if Path(n).name not in labels]
    if unlabeled or len(names) != len(labels):
        raise DataError(
            f"dataset 'mnist_m': {source} has {len(names)} PNGs but {labels_path} lists {len(labels)} "
            f"labels ({len(unlabeled)} images without a label); the archive or the labels file is "
            "incomplete."
        )
    images = np.stack([decode_image(members[n], f"{source}/{n}", "RGB") for n in names])
    return images, np.array([labels[Path(n).name] for n in names], dtype=np.int64)


def load_mnist_m(ctx: LoadContext) -> DatasetSplits:
    """MNIST-M (Ganin & Lempitsky 2015): official train/test when both exist, else a seeded 7:3 split of test."""
    folder = dataset_folder(ctx, "mnist_m", "mnist_m")
    test = _read_split(folder, "test")
    if test is None:
        raise DataError(
            f"dataset 'mnist_m': no test split in {folder}: expected mnist_m_test/ (or "
            f"mnist_m_test.tar.gz) and mnist_m_test_labels.txt. {fetch_hint('mnist_m')}"
        )
    train = _read_split(folder, "train")
    if train is not None:
        return DatasetSplits(
            train=labeled(*train, channels_last=True), test=labeled(*test, channels_last=True), source=str(folder)
        )
    log.warning(
        "mnist_m: no training split in %s; splitting the %d test images 7:3 (stratified, seeded).", folder, len(test[1])
    )
    images, labels = test
    train_idx, test_idx = stratified_split(labels, (0.7, 0.3), ctx.rng)
    return DatasetSplits(
        train=labeled(images[train_idx], labels[train_idx], channels_last=True),
        test=labeled(images[test_idx], labels[test_idx], channels_last=True),
        source=str(folder),
    )
