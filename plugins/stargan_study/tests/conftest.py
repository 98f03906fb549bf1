"""Fixtures of the StarGAN study's tests: the registry with the study plugin, and a tiny data root in the published
formats (MNIST IDX, USPS ESL text, MNIST-M PNG archive) whose MNIST-M images are MNIST's first test digits."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dabench_stargan_study
from dabench.registry import Registry, build_registry

N_TRAIN, N_TEST, N_PAIRED, N_USPS = 60, 120, 100, 90


@pytest.fixture(scope="session")
def registry() -> Registry:
    installed = build_registry()
    if "digit_pairs" in installed.protocols.providers:
        return installed
    import dabench_datasets
    import dabench_digits3

    return build_registry(
        [("stargan_study", dabench_stargan_study), ("digits3", dabench_digits3), ("datasets", dabench_datasets)]
    )


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_sizes() -> dict[str, int]:
    """Images per domain in :func:`tiny_root`."""
    return {"mnist": N_TRAIN + N_TEST, "usps": N_USPS + 10, "mnist_m": N_PAIRED}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MNIST (60 train, 120 test), USPS (90 train, 10 test), MNIST-M = MNIST's first 100 test digits coloured; the
    pixel (0, 0) of every image encodes its index so the tests can follow images through the split."""
    root = tmp_path_factory.mktemp("digits_root")
    rng = np.random.default_rng(0)
    (root / "mnist").mkdir()
    images = rng.integers(0, 256, size=(N_TRAIN + N_TEST, 28, 28), dtype=np.uint8)
    labels = (np.arange(N_TRAIN + N_TEST) % 10).astype(np.uint8)
    images[:, 0, 0] = np.arange(N_TRAIN + N_TEST) % 256
    for prefix, sl in (("train", slice(0, N_TRAIN)), ("t10k", slice(N_TRAIN, None))):
        (root / "mnist" / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images[sl])))
        (root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels[sl])))
    (root / "usps").mkdir()
    for name, n in (("zip.train.gz", N_USPS), ("zip.test.gz", 10)):
        rows = [f"{i % 10} " + " ".join(f"{v:.4f}" for v in rng.uniform(-1, 1, 256)) for i in range(n)]
        (root / "usps" / name).write_bytes(gzip.compress("\n".join(rows).encode()))
    (root / "mnist_m").mkdir()
    names = [f"{i:08d}.png" for i in range(N_PAIRED)]
    test_labels = labels[N_TRAIN:]
    (root / "mnist_m" / "mnist_m_test_labels.txt").write_text(
        "".join(f"{n} {test_labels[i]}\n" for i, n in enumerate(names))
    )
    with tarfile.open(root / "mnist_m" / "mnist_m_test.tar.gz", "w:gz") as archive:
        for i, name in enumerate(names):
            picture = np.full((32, 32, 3), 7, dtype=np.uint8)
            picture[0, 0] = N_TRAIN + i  # the MNIST image it was made from (pooled index)
            data = _png(picture)
            info = tarfile.TarInfo(f"mnist_m_test/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return root
