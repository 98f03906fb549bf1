"""PBC (npz and raw JPEGs), Zheng 2018 white blood cells (classes and masks, two labs) and ISBI 2012 membranes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dabench import DataError, SpecError
from dabench_datasets.wbc_zheng import mask_classes

PBC_COUNTS = [1218, 3117, 1551, 2895, 1214, 1420, 3329, 2348]


def _jpeg(color: tuple[int, int, int], size: tuple[int, int] = (363, 360)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_pbc_raw_folder_at_any_size(tmp_path: Path, load) -> None:
    base = tmp_path / "pbc_acevedo2020" / "PBC_dataset_normal_DIB"
    for index, name in enumerate(
        ("basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet")
    ):
        (base / name).mkdir(parents=True)
        for i in range(10):
            (base / name / f"X_{i}.jpg").write_bytes(_jpeg((index * 30, 0, 0)))
    (base / "ig" / ".DS_1.jpg").write_bytes(b"junk")  # the stray macOS file of the real set is ignored
    splits = load("pbc", tmp_path, "40")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (56, 8, 16)
    assert splits.train.images.shape[1:] == (3, 40, 40)
    assert np.bincount(splits.test.labels.numpy()).tolist() == [2] * 8
    red = splits.train.images[:, 0, 20, 20].float().numpy()
    assert np.allclose(red, splits.train.labels.numpy() * 30, atol=3)
    with pytest.raises(SpecError, match=r"size"):
        load("pbc", tmp_path, "huge")
    with pytest.raises(SpecError, match=r"npz holds 28"):
        load("pbc", tmp_path, "64,source=npz")


def test_pbc_errors(tmp_path: Path, load) -> None:
    (tmp_path / "pbc_acevedo2020").mkdir()
    with pytest.raises(DataError, match=r"pbc_28x28_bloodmnist_style.npz.*PBC_dataset_normal_DIB"):
        load("pbc", tmp_path)
    (tmp_path / "pbc_acevedo2020" / "pbc_28x28_bloodmnist_style.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"truncated or not an npz"):
        load("pbc", tmp_path)


@pytest.mark.realdata
def test_real_pbc_npz_counts_and_split(need, load) -> None:
    root = need("pbc_acevedo2020").parent
    splits, again = load("pbc", root, seed=5), load("pbc", root, seed=5)
    parts = (splits.train, splits.val, splits.test)
    assert sum(len(p) for p in parts) == 17092 and splits.train.images.shape[1:] == (3, 28, 28)
    total = sum(np.bincount(p.labels.numpy(), minlength=8) for p in parts)
    assert total.tolist() == PBC_COUNTS
    test_share = np.bincount(splits.test.labels.numpy()) / np.array(PBC_COUNTS)
    assert np.allclose(test_share, 0.2, atol=0.002)
    assert np.array_equal(splits.test.labels.numpy(), again.test.labels.numpy())
    assert not np.array_equal(splits.test.images.numpy(), load("pbc", root, seed=6).test.images.numpy())


@pytest.mark.realdata
def test_real_pbc_raw_jpegs_reproduce_the_npz(need) -> None:
    from dabench_datasets.pbc import read_npz, read_raw

    folder = need("pbc_acevedo2020")
    raw, raw_labels = read_raw(folder / "pbc_raw_subset_100_per_class.tar", 28)
    assert raw.shape == (800, 28, 28, 3) and np.bincount(raw_labels).tolist() == [100] * 8
    npz, npz_labels = read_npz(folder / "pbc_28x28_bloodmnist_style.npz")
    with np.load(folder / "pbc_28x28_bloodmnist_style.npz") as archive:
        index = {name: i for i, name in enumerate(archive["filenames"].tolist())}
    with tarfile.open(folder / "pbc_raw_subset_100_per_class.tar") as archive:
        names = sorted("/".join(m.name.split("/")[-2:]) for m in archive if m.name.endswith(".jpg"))
    rows = [index[n] for n in names]
    assert np.array_equal(npz[rows], raw) and np.array_equal(npz_labels[rows], raw_labels)


def test_zheng_mask_values() -> None:
    mask = np.array([[0, 2, 50, 63], [64, 128, 191, 192], [255, 255, 0, 128]], dtype=np.uint8)
    assert mask_classes(mask).tolist() == [[0, 0, 0, 0], [1, 1, 1, 2], [2, 2, 0, 1]]


def test_zheng_errors(tmp_path: Path, load) -> None:
    with pytest.raises(DataError, match=r"wbc_seg_zheng2018"):
        load("wbc_zheng", tmp_path, "lab1")
    (tmp_path / "wbc_seg_zheng2018").mkdir()
    (tmp_path / "wbc_seg_zheng2018" / "wbc_seg_zheng2018.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataError, match=r"truncated or corrupt"):
        load("wbc_zheng_seg", tmp_path, "lab2")
    with pytest.raises(SpecError, match=r"not one of lab1, lab2"):
        load("wbc_zheng", tmp_path, "lab3")


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("lab", "counts", "native"), [("lab1", [176, 53, 48, 22, 1], 120), ("lab2", [33, 37, 15, 12, 3], 300)]
)
def test_real_zheng(lab: str, counts: list[int], native: int, need, load) -> None:
    root = need("wbc_seg_zheng2018").parent
    cls = load("wbc_zheng", root, lab)
    parts = (cls.train, cls.val, cls.test)
    assert sum(np.bincount(p.labels.numpy(), minlength=5) for p in parts).tolist() == counts
    assert cls.train.images.shape[1:] == (3, 28, 28)
    seg = load("wbc_zheng_seg", root, f"{lab},size={native}")
    assert seg.train.images.shape[1:] == (3, native, native) and seg.train.labels.shape[1:] == (native, native)
    assert set(np.unique(seg.test.labels.numpy()).tolist()) == {0, 1, 2}
    assert len(seg.train) == len(cls.train) and len(seg.test) == len(cls.test)  # same seeded split


def test_isbi_errors(tmp_path: Path, load) -> None:
    (tmp_path / "isbi2012_em_membrane").mkdir()
    with pytest.raises(DataError, match=r"train-volume.tif"):
        load("isbi2012", tmp_path)
    (tmp_path / "isbi2012_em_membrane" / "isbi2012_membrane_pngs.tar").write_bytes(b"x" * 1000)
    with pytest.raises(DataError, match=r"isbi2012_membrane_pngs.tar"):
        load("isbi2012", tmp_path)


def test_isbi_from_tiff_stacks(tmp_path: Path, load) -> None:
    folder = tmp_path / "isbi2012_em_membrane"
    folder.mkdir()
    pages = [Image.fromarray(np.full((32, 32), i, dtype=np.uint8)) for i in range(30)]
    labels = [Image.fromarray(np.where(np.eye(32, dtype=bool), 0, 255).astype(np.uint8)) for _ in range(30)]
    pages[0].save(folder / "train-volume.tif", save_all=True, append_images=pages[1:])
    labels[0].save(folder / "train-labels.tif", save_all=True, append_images=labels[1:])
    splits = load("isbi2012", tmp_path, "size=16")
    assert splits.train.images.shape == (20, 1, 16, 16) and splits.test.images.shape == (10, 1, 16, 16)
    assert splits.test.images[0, 0, 0, 0] == 20 and splits.train.labels.sum() > 0


@pytest.mark.realdata
def test_real_isbi(need, load) -> None:
    splits = load("isbi2012", need("isbi2012_em_membrane").parent)
    assert splits.train.images.shape == (20, 1, 512, 512) and splits.test.labels.shape == (10, 512, 512)
    membrane = float(splits.train.labels.float().mean())
    assert set(np.unique(splits.train.labels.numpy()).tolist()) == {0, 1} and 0.1 < membrane < 0.4
