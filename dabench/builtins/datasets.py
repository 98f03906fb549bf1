"""Embedded datasets that need no download: scikit-learn's bundled 8×8 digits and a seeded synthetic set."""

from __future__ import annotations

from dabench.data import DatasetSplits, LabeledSplit
from dabench.specs import DatasetSpec, LoadContext


def _labeled(images: object, labels: object) -> LabeledSplit:
    import torch

    return LabeledSplit(
        images=torch.as_tensor(images, dtype=torch.uint8), labels=torch.as_tensor(labels, dtype=torch.int64)
    )


def load_digits(ctx: LoadContext) -> DatasetSplits:
    """scikit-learn's copy of the UCI optical digits test set (1,797 images, 8×8, values 0–16), split 70:30
    stratified with ``ctx.rng``; intensities are scaled to uint8 (×16, clipped at 255)."""
    import numpy as np
    from sklearn.datasets import load_digits as sk_load_digits

    from dabench.splitting import stratified_split

    bunch = sk_load_digits()
    images = np.clip(bunch.images * 16.0, 0, 255).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split(labels, (0.7, 0.3), ctx.rng)
    return DatasetSplits(train=_labeled(images[train], labels[train]), test=_labeled(images[test], labels[test]))


def load_synthetic(ctx: LoadContext) -> DatasetSplits:
    """Four classes of 16×16 grey images: a bright bar (horizontal, vertical, or one of two diagonals) on a noisy
    background, at a random offset. Seeded by ``ctx.rng``; 800 train and 400 test images, generated in milliseconds."""
    import numpy as np

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 4
        ctx.rng.shuffle(labels)
        yy, xx = np.mgrid[0:16, 0:16]
        offsets = ctx.rng.integers(-4, 5, size=n)[:, None, None]
        lines = np.stack([yy - 8, xx - 8, yy - xx, yy + xx - 15])[labels] - offsets
        bar = (np.abs(lines) <= 1).astype(float)
        images = 40 + 170 * bar + ctx.rng.normal(0, 20, size=(n, 16, 16))
        return np.clip(images, 0, 255).astype(np.uint8)[:, None], labels.astype(np.int64)

    return DatasetSplits(train=_labeled(*make(800)), test=_labeled(*make(400)))


DATASETS = (
    DatasetSpec(
        name="digits",
        load=load_digits,
        num_classes=10,
        input_shape=(1, 8, 8),
        license="CC BY 4.0 (UCI ML repository), bundled with scikit-learn (BSD-3)",
        homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
        description="scikit-learn's bundled 8×8 handwritten digits; the embedded default (no download).",
        class_names=tuple(str(d) for d in range(10)),
    ),
    DatasetSpec(
        name="synthetic",
        load=load_synthetic,
        num_classes=4,
        input_shape=(1, 16, 16),
        license="generated (CC0)",
        homepage="https://github.com/dabench",
        description="Seeded synthetic oriented bars, 16×16: for fast tests.",
        class_names=("horizontal", "vertical", "diagonal", "antidiagonal"),
    ),
)
