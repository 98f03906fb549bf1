"""MNIST / Fashion-MNIST (IDX), USPS (ESL text and LIBSVM), MNIST-M (PNGs + labels) and black images."""

from __future__ import annotations

import bz2
import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dabench import DataError, SpecError
from dabench_datasets.idx import parse_idx
from dabench_datasets.usps import parse_esl, parse_libsvm


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_mnist(folder: Path, n_train: int = 12, n_test: int = 6, n_train_labels: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, size=(n_train + n_test, 28, 28), dtype=np.uint8)
    labels = (np.arange(max(n_train, n_train_labels or 0) + n_test) % 10).astype(np.uint8)
    parts = {
        "train": (images[:n_train], labels[: n_train_labels or n_train]),
        "t10k": (images[n_train:], labels[:n_test]),
    }
    for prefix, (x, y) in parts.items():
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(x)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(y)))
    return images


def test_idx_counts_come_from_the_header(tmp_path: Path, load) -> None:
    images = _write_mnist(tmp_path / "mnist", n_train=12, n_train_labels=30)  # labels file longer, like the shared one
    splits = load("mnist", tmp_path)
    assert splits.train.images.shape == (12, 1, 28, 28) and splits.test.images.shape == (6, 1, 28, 28)
    assert str(splits.train.images.dtype) == "torch.uint8" and str(splits.train.labels.dtype) == "torch.int64"
    assert np.array_equal(splits.train.images[:, 0].numpy(), images[:12])
    assert splits.train.labels.tolist() == [i % 10 for i in range(12)]


def test_idx_format_errors() -> None:
    good = _idx(np.zeros((3, 2, 2), dtype=np.uint8))
    assert parse_idx(good, "x").shape == (3, 2, 2)
    with pytest.raises(DataError, match=r"truncated"):
        parse_idx(good[:-1], "x")
    with pytest.raises(DataError, match=r"longer than its header"):
        parse_idx(good + b"\0", "x")
    with pytest.raises(DataError, match=r"not an IDX file"):
        parse_idx(b"\x1f\x8b\x08\x00" + good, "x")
    with pytest.raises(DataError, match=r"truncated"):
        parse_idx(good[:7], "x")


def test_truncated_gzip_names_the_file(tmp_path: Path, load) -> None:
    _write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz.*truncated or corrupt"):
        load("mnist", tmp_path)


def test_missing_root_folder_and_file(tmp_path: Path, load) -> None:
    with pytest.raises(DataError, match=r"DABENCH_DATA"):
        load("mnist", None)
    with pytest.raises(DataError, match=r"fashion_mnist.*does not exist.*dabench data fetch fashion_mnist"):
        load("fashion_mnist", tmp_path)
    _write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"train labels not found.*train-labels-idx1-ubyte.gz"):
        load("mnist", tmp_path)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "folder", "train", "test"),
    [("mnist", "mnist", 10_000, 10_000), ("fashion_mnist", "fashion_mnist", 60_000, 10_000)],
)
def test_real_idx(name: str, folder: str, train: int, test: int, need, load) -> None:
    splits = load(name, need(folder).parent)
    assert (len(splits.train), len(splits.test)) == (train, test)
    assert splits.train.images.shape[1:] == (1, 28, 28)
    if name == "mnist":  # SOURCE.md: first 10k training labels and the standard test histogram
        assert np.bincount(splits.train.labels.numpy()).tolist() == [
            1001,
            1127,
            991,
            1032,
            980,
            863,
            1014,
            1070,
            944,
            978,
        ]
        assert np.bincount(splits.test.labels.numpy()).tolist() == [
            980,
            1135,
            1032,
            1010,
            982,
            892,
            958,
            1028,
            974,
            1009,
        ]
        assert splits.train.labels[:2].tolist() == [5, 0]
    else:
        assert np.bincount(splits.train.labels.numpy()).tolist() == [6000] * 10


# ------------------------------------------------------------------------------------------------- USPS


def _esl_text(values: np.ndarray, labels: np.ndarray) -> str:
    return "\n".join(f"{y:.4f} " + " ".join(f"{v:.4f}" for v in row) for y, row in zip(labels, values, strict=True))


def test_usps_esl_and_libsvm_agree() -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(-1, 1, size=(5, 256)), 4)
    values[:, :3] = -1.0  # LIBSVM files may leave out some entries; missing ones are background (-1)
    labels = np.array([0, 3, 9, 1, 1])
    esl_x, esl_y = parse_esl(_esl_text(values, labels), "zip.train")
    lines = [
        f"{y + 1} " + " ".join(f"{i + 1}:{v}" for i, v in enumerate(row) if i >= 3)
        for y, row in zip(labels, values, strict=True)
    ]
    lib_x, lib_y = parse_libsvm("\n".join(lines) + "\n", "usps")
    assert esl_x.shape == (5, 16, 16) and esl_y.tolist() == labels.tolist()
    assert np.array_equal(esl_x, lib_x) and np.array_equal(esl_y, lib_y)
    assert esl_x[0, 0, 0] == 0 and parse_esl("1 " + " ".join(["1"] * 256), "z")[0].max() == 255


def test_usps_errors(tmp_path: Path, load) -> None:
    with pytest.raises(DataError, match=r"257 numbers"):
        parse_esl("1 2 3", "zip.train")
    with pytest.raises(DataError, match=r"LIBSVM"):
        parse_libsvm("3 1:0.5 2:oops", "usps")
    (tmp_path / "usps").mkdir()
    with pytest.raises(DataError, match=r"zip\.train\.gz.*usps\.bz2"):
        load("usps", tmp_path)
    (tmp_path / "usps" / "usps.bz2").write_bytes(bz2.compress(b"1 1:0.5\n")[:-5])
    with pytest.raises(DataError, match=r"truncated or corrupt"):
        load("usps", tmp_path)


@pytest.mark.realdata
def test_real_usps(need, load) -> None:
    splits = load("usps", need("usps").parent)
    assert splits.train.images.shape == (7291, 1, 16, 16) and len(splits.test) == 2007
    assert np.bincount(splits.train.labels.numpy()).tolist() == [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
    assert np.bincount(splits.test.labels.numpy()).tolist() == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]


# ----------------------------------------------------------------------------------------------- MNIST-M


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_mnist_m(folder: Path, split: str, n: int, *, packed: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:08d}.png" for i in range(n)]
    (folder / f"mnist_m_{split}_labels.txt").write_text("".join(f"{nm} {i % 10}\n" for i, nm in enumerate(names)))
    if packed:
        with tarfile.open(folder / f"mnist_m_{split}.tar.gz", "w:gz") as archive:
            for i, name in enumerate(names):
                info = tarfile.TarInfo(f"mnist_m_{split}/{name}")
                data = _png(i)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    else:
        (folder / f"mnist_m_{split}").mkdir()
        for i, name in enumerate(names):
            (folder / f"mnist_m_{split}" / name).write_bytes(_png(i))


def test_mnist_m_official_split_from_folder_and_archive(tmp_path: Path, load) -> None:
    _write_mnist_m(tmp_path / "mnist_m", "train", 20, packed=False)
    _write_mnist_m(tmp_path / "mnist_m", "test", 10, packed=True)
    splits = load("mnist_m", tmp_path)
    assert splits.train.images.shape == (20, 3, 32, 32) and splits.test.images.shape == (10, 3, 32, 32)
    assert splits.train.images[7, :, 0, 0].tolist() == [7, 7, 7] and splits.train.labels[7] == 7


def test_mnist_m_test_only_is_split_seeded_and_stratified(tmp_path: Path, load) -> None:
    _write_mnist_m(tmp_path / "mnist_m", "test", 100, packed=True)
    first, again = load("mnist_m", tmp_path, seed=3), load("mnist_m", tmp_path, seed=3)
    assert (len(first.train), len(first.test)) == (70, 30)
    assert np.bincount(first.test.labels.numpy()).tolist() == [3] * 10
    assert np.array_equal(first.test.images.numpy(), again.test.images.numpy())
    other = load("mnist_m", tmp_path, seed=4)
    assert not np.array_equal(first.test.images.numpy(), other.test.images.numpy())


def test_mnist_m_errors(tmp_path: Path, load) -> None:
    _write_mnist_m(tmp_path / "mnist_m", "test", 5, packed=True)
    (tmp_path / "mnist_m" / "mnist_m_test_labels.txt").write_text("00000000.png 7\n")
    with pytest.raises(DataError, match=r"5 PNGs but .* lists 1 labels"):
        load("mnist_m", tmp_path)
    (tmp_path / "mnist_m" / "mnist_m_test_labels.txt").unlink()
    with pytest.raises(DataError, match=r"mnist_m_test_labels.txt"):
        load("mnist_m", tmp_path)
    archive = tmp_path / "mnist_m" / "mnist_m_test.tar.gz"
    _write_mnist_m(tmp_path / "mnist_m", "test", 5, packed=True)
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError, match=r"mnist_m_test\.tar\.gz.*truncated or corrupt"):
        load("mnist_m", tmp_path)


@pytest.mark.realdata
def test_real_mnist_m(need, load) -> None:
    splits = load("mnist_m", need("mnist_m").parent)
    assert len(splits.train) + len(splits.test) == 9001 and splits.train.images.shape[1:] == (3, 32, 32)
    counts = np.bincount(splits.train.labels.numpy()) + np.bincount(splits.test.labels.numpy())
    assert counts.tolist() == [878, 1016, 933, 908, 890, 807, 856, 914, 880, 919]


# ------------------------------------------------------------------------------------------------- black


def test_black_any_size(load) -> None:
    splits = load("black", None, "size=32,channels=3,n_train=7,n_test=3")
    assert splits.train.images.shape == (7, 3, 32, 32) and int(splits.train.images.max()) == 0
    assert splits.test.labels.tolist() == [0, 0, 0]
    assert load("black", None).train.images.shape == (10000, 1, 28, 28)
    with pytest.raises(SpecError, match=r"unknown domain option 'width'"):
        load("black", None, "width=3")
    with pytest.raises(SpecError, match=r"must be a int"):
        load("black", None, "size=big")
