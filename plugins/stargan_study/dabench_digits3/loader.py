"""``digits3``: the StarGAN paper's digit domains — MNIST, USPS and MNIST-M — on one image size and one split that
cannot leak digits between MNIST and MNIST-M.

Every image is resized to 32×32×3 by nearest-neighbour interpolation (grey repeated over three channels), as the
paper's preprocessing ("digits were nearest-neighbor interpolated to dimensions of 32x32x3"). Each domain's
labelled images are pooled (MNIST: the data root's train and test files; USPS: train and test; MNIST-M: its test
split, the only one the shared data root holds) and split once 80 / 10 / 10 into train / validation / test (the
paper's proportions), stratified by class, with a fixed seed (:data:`SPLIT_SEED`): the split is part of the data, not
of a run, so every run, method and seed sees the same test images.

Leakage. MNIST-M is MNIST with colour patches blended in: the k-th MNIST-M image of the shared test split is drawn
from the k-th MNIST *test* digit (k = 0 … 9000; the labels agree one for one, checked when loading). The paired
indices are split once and both domains use that assignment, so an MNIST-M training image's digit is never in an
MNIST test (or validation) set, nor an MNIST training digit in the MNIST-M test set. MNIST's other images (its train
file and test digits 9001 …) are split on their own with the same proportions.

Domains: ``digits3:mnist``, ``digits3:usps``, ``digits3:mnist_m`` and ``digits3:pooled`` (the three train /
validation / test splits concatenated: the paper's *global* model's data). Option ``fraction`` (pooled only; 0.001,
0.01, 0.1, 1 in the paper's domain-spread experiment): the share of every domain's train split kept, a seeded
stratified subsample (at least one image per class).

References
----------
Valliani A. A. et al. (2023), Deploying deep learning models on unseen medical imaging using adversarial domain
adaptation, PLOS ONE (shared/papers/stargan-adversarial-da-chest-xray.txt), §5.2.2 and §5.3.1. Ganin Y., Lempitsky V.
(2015), Unsupervised domain adaptation by backpropagation, ICML (MNIST-M).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LabeledSplit, LoadContext, SpecError, stratified_split

if TYPE_CHECKING:
    import numpy as np

DOMAINS = ("mnist", "usps", "mnist_m")
SIZE = 32
SPLIT_SEED = 2023
FRACTIONS = (0.8, 0.1, 0.1)
UNPAIRED_TRAIN, UNPAIRED_TEST = 10**7, 2 * 10**7  # id offsets of MNIST digits without an MNIST-M twin


def parse(domain: str | None) -> tuple[str, float]:
    """(domain name, fraction) from ``mnist`` / ``pooled,fraction=0.01``; a clear SpecError otherwise."""
    name, *options = (domain or "").split(",")
    valid = (*DOMAINS, "pooled")
    if name not in valid:
        raise SpecError(f"dataset 'digits3': domain {name or '(none)'!r} is not one of {', '.join(valid)}.")
    fraction = 1.0
    for option in options:
        key, _, value = option.partition("=")
        if key != "fraction" or name != "pooled":
            raise SpecError(f"dataset 'digits3': option {option!r} is not valid; only pooled takes fraction=F.")
        try:
            fraction = float(value)
        except ValueError:
            raise SpecError(f"dataset 'digits3': fraction must be a number in (0, 1]; got {value!r}.") from None
        if not 0 < fraction <= 1:
            raise SpecError(f"dataset 'digits3': fraction must be in (0, 1]; got {fraction:g}.")
    return name, fraction


def _rgb32(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, C, H, W]`` → ``[N, 3, 32, 32]`` by nearest-neighbour interpolation (grey repeated)."""
    import torch
    from torch.nn import functional

    x = torch.from_numpy(images)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    out = functional.interpolate(x.float(), size=(SIZE, SIZE), mode="nearest").round().clamp(0, 255)
    return out.to(torch.uint8).numpy()


def _raw(ctx: LoadContext) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per domain: images (uint8, 32×32×3), labels, and the pairing id (MNIST test k and MNIST-M k share id k;
    every other MNIST image gets a distinct id no MNIST-M image has)."""
    import numpy as np

    from dabench_datasets.mnist import load_mnist
    from dabench_datasets.mnist_m import _read_split  # the published-format reader, in file order
    from dabench_datasets.reading import dataset_folder
    from dabench_datasets.usps import load_usps

    def pool(splits: DatasetSplits) -> tuple[np.ndarray, np.ndarray]:
        parts = [s for s in (splits.train, splits.test) if s is not None]
        return np.concatenate([p.images.numpy() for p in parts]), np.concatenate([p.labels.numpy() for p in parts])

    plain = LoadContext(root=ctx.root, rng=np.random.default_rng(SPLIT_SEED))
    mnist = load_mnist(plain)
    assert mnist.train is not None and mnist.test is not None
    mm = _read_split(dataset_folder(ctx, "mnist_m", "mnist_m"), "test")
    if mm is None:
        raise DataError("dataset 'digits3' needs MNIST-M's test split (mnist_m/mnist_m_test.tar.gz + labels).")
    mm_images, mm_labels = mm
    paired = len(mm_labels)  # 9,001 in the shared data root
    mnist_test_labels = mnist.test.labels.numpy()
    if paired > len(mnist_test_labels) or not np.array_equal(mm_labels, mnist_test_labels[:paired]):
        raise DataError(
            "dataset 'digits3': MNIST-M's test split is expected to be MNIST's first test digits in order (the "
            f"shared copy: digits 0-9000, labels equal to MNIST's); this copy's {paired} labels differ, so its "
            "pairing with MNIST cannot be trusted."
        )
    test_ids = np.arange(len(mnist_test_labels))
    test_ids[paired:] += UNPAIRED_TEST  # test digits without an MNIST-M twin
    m_images, m_labels = pool(mnist)
    m_ids = np.concatenate([UNPAIRED_TRAIN + np.arange(len(mnist.train)), test_ids])  # test digit k: id k
    u_images, u_labels = pool(load_usps(plain))
    u_ids = -1 - np.arange(len(u_labels))  # never an MNIST-M id
    return {
        "mnist": (_rgb32(m_images), m_labels, m_ids),
        "usps": (_rgb32(u_images), u_labels, u_ids),
        "mnist_m": (_rgb32(mm_images.transpose(0, 3, 1, 2).copy()), mm_labels, np.arange(paired)),
    }


def _assignment(labels: np.ndarray, ids: np.ndarray, paired: dict[int, int]) -> np.ndarray:
    """Part (0 train, 1 val, 2 test) of every image: paired ids take the shared assignment, the rest are split
    stratified with the same proportions."""
    import numpy as np

    part = np.full(len(labels), -1, dtype=np.int64)
    for i, image_id in enumerate(ids):
        if int(image_id) in paired:
            part[i] = paired[int(image_id)]
    rest = np.flatnonzero(part < 0)
    if rest.size:
        for k, chosen in enumerate(stratified_split(labels[rest], FRACTIONS, np.random.default_rng(SPLIT_SEED + 1))):
            part[rest[chosen]] = k
    return part


def split_parts(ctx: LoadContext) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per domain: images, labels and part (0 train, 1 val, 2 test) — see the module docstring. Read once per
    process and data root (the result depends on nothing else; its arrays are read-only)."""
    return _cached_parts(str(ctx.root))


@functools.lru_cache(maxsize=1)
def _cached_parts(root: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    import numpy as np

    raw = _raw(LoadContext(root=Path(root), rng=np.random.default_rng(SPLIT_SEED)))
    paired_labels = raw["mnist_m"][1]
    shared = stratified_split(paired_labels, FRACTIONS, np.random.default_rng(SPLIT_SEED))
    paired = {int(i): k for k, chosen in enumerate(shared) for i in chosen}
    parts = {name: (x, y, _assignment(y, ids, paired)) for name, (x, y, ids) in raw.items()}
    for arrays in parts.values():
        for a in arrays:
            a.flags.writeable = False
    return parts


def _subsample(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A stratified share ``fraction`` of the indices, at least one per class (sorted)."""
    import numpy as np

    if fraction >= 1:
        return np.arange(len(labels))
    kept = [
        rng.permutation(members)[: max(1, round(fraction * len(members)))]
        for members in (np.flatnonzero(labels == c) for c in np.unique(labels))
    ]
    return np.sort(np.concatenate(kept))


def load_digits3(ctx: LoadContext) -> DatasetSplits:
    """The ``digits3`` dataset (see the module docstring)."""
    import numpy as np

    name, fraction = parse(ctx.domain)
    if ctx.root is None:
        raise DataError(
            "dataset 'digits3' reads MNIST (mnist/), USPS (usps/) and MNIST-M (mnist_m/) from the data root, but none "
            "is set: set DABENCH_DATA (or pass --data-root) to the folder that holds them."
        )
    parts = split_parts(ctx)
    domains = DOMAINS if name == "pooled" else (name,)

    def split(k: int, subsample: bool) -> LabeledSplit:
        xs, ys = [], []
        for domain in domains:
            x, y, part = parts[domain]
            index = np.flatnonzero(part == k)
            if subsample:
                index = index[_subsample(y[index], fraction, ctx.rng)]
            xs.append(x[index])
            ys.append(y[index])
        import torch

        return LabeledSplit(images=torch.from_numpy(np.concatenate(xs)), labels=torch.from_numpy(np.concatenate(ys)))

    return DatasetSplits(
        train=split(0, subsample=True),
        val=split(1, subsample=False),
        test=split(2, subsample=False),
        input_shape=(3, SIZE, SIZE),
        source=str(ctx.root),
    )
