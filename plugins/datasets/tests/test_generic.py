"""MedMNIST npz, ImageFolder and the synthetic Perlin generator; the plugin's registration and manifests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dabench import DataError, SpecError
from dabench_datasets.catalog import DATASETS
from dabench_datasets.medmnist import OFFICIAL
from dabench_datasets.perlin import perlin_noise


def _medmnist(path: Path, *, channels: int = 3, classes: int = 8, multilabel: bool = False) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 20), ("val", 5), ("test", 8)):
        shape = (n, 28, 28, 3) if channels == 3 else (n, 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        labels = rng.integers(0, 2, size=(n, 14)) if multilabel else (np.arange(n) % classes)[:, None]
        arrays[f"{split}_labels"] = labels
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def test_medmnist_generic_and_official(tmp_path: Path, load) -> None:
    _medmnist(tmp_path / "medmnist" / "bloodmnist.npz")
    _medmnist(tmp_path / "medmnist" / "mycells.npz", channels=1, classes=3)
    blood = load("bloodmnist", tmp_path)
    assert blood.train.images.shape == (20, 3, 28, 28) and blood.val is not None and len(blood.val) == 5
    assert blood.test.labels.tolist() == list(range(8))
    mine = load("medmnist", tmp_path, "mycells")
    assert mine.train.images.shape == (20, 1, 28, 28) and int(mine.train.labels.max()) == 2
    with pytest.raises(DataError, match=r"nope\.npz does not exist.*bloodmnist, mycells"):
        load("medmnist", tmp_path, "nope")
    with pytest.raises(SpecError, match=r"MedMNIST image size"):
        load("bloodmnist", tmp_path, "100")
    with pytest.raises(DataError, match=r"bloodmnist_64.npz"):
        load("bloodmnist", tmp_path, "64")


def test_medmnist_bad_files(tmp_path: Path, load) -> None:
    _medmnist(tmp_path / "medmnist" / "chestmnist.npz", multilabel=True)
    with pytest.raises(DataError, match=r"multi-label"):
        load("medmnist", tmp_path, "chestmnist")
    _medmnist(tmp_path / "medmnist" / "pathmnist.npz", channels=1)
    with pytest.raises(
        DataError, match=r"pathmnist\.npz: images are 1×28×28 \(C×H×W\) but the dataset declares 3×28×28"
    ):
        load("pathmnist", tmp_path)
    np.savez(tmp_path / "medmnist" / "partial.npz", train_images=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"missing train_labels"):
        load("medmnist", tmp_path, "partial")
    good = (tmp_path / "medmnist" / "pathmnist.npz").read_bytes()
    (tmp_path / "medmnist" / "cut.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut\.npz is truncated"):
        load("medmnist", tmp_path, "cut")


def _imagefolder(base: Path, sizes: dict[str, tuple[int, int]]) -> None:
    for index, (name, size) in enumerate(sizes.items()):
        (base / name.split("/")[0]).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (index * 10, 0, 0)).save(base / f"{name}.png")


def test_imagefolder_layouts(tmp_path: Path, load) -> None:
    flat = tmp_path / "imagefolder" / "flat"
    _imagefolder(flat, {f"{cls}/{i}": (8, 8) for cls in ("Cat", "dog") for i in range(10)})
    splits = load("imagefolder", tmp_path, "flat")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (14, 2, 4)
    assert splits.train.images.shape[1:] == (3, 8, 8) and np.bincount(splits.test.labels.numpy()).tolist() == [2, 2]
    split = tmp_path / "imagefolder" / "split"
    _imagefolder(split / "train", {f"a/{i}": (8, 8) for i in range(3)} | {f"b/{i}": (8, 8) for i in range(3)})
    _imagefolder(split / "test", {"b/0": (8, 8)})
    official = load("imagefolder", tmp_path, "split,channels=1")
    assert official.train.images.shape == (6, 1, 8, 8) and official.val is None
    assert official.test.labels.tolist() == [1]


def test_imagefolder_errors(tmp_path: Path, load) -> None:
    mixed = tmp_path / "imagefolder" / "mixed"
    _imagefolder(mixed, {"a/0": (8, 8), "a/1": (9, 9), "b/0": (8, 8)})
    with pytest.raises(DataError, match=r"different sizes.*size=64"):
        load("imagefolder", tmp_path, "mixed")
    # 3 images split 7:1:2 leave an empty test split, which a run rejects; the raw load shows the resizing
    assert load("imagefolder", tmp_path, "mixed,size=6", raw=True).train.images.shape[2:] == (6, 6)
    with pytest.raises(SpecError, match=r"needs a domain.*mixed"):
        load("imagefolder", tmp_path)
    with pytest.raises(DataError, match=r"does not exist"):
        load("imagefolder", tmp_path, "absent")
    (mixed / "b" / "1.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"1\.png cannot be decoded"):
        load("imagefolder", tmp_path, "mixed,size=6")


def test_perlin_is_seeded_and_follows_mu(load) -> None:
    first = load("perlin", None, "n_train=64,n_test=16,size=32", seed=1)
    again = load("perlin", None, "n_train=64,n_test=16,size=32", seed=1)
    assert first.train.images.shape == (64, 1, 32, 32) and first.test.labels.shape == (16, 32, 32)
    assert np.array_equal(first.train.images.numpy(), again.train.images.numpy())
    images, masks = first.train.images[:, 0].float().numpy() / 255, first.train.labels.numpy().astype(bool)
    assert abs(images[masks].mean() - 0.7) < 0.01 and abs(images[~masks].mean() - 0.3) < 0.01
    assert 0.3 < masks.mean() < 0.7
    swapped = load("perlin", None, "mu1=0.3,mu2=0.7,sigma=0,n_train=8,n_test=2,size=32", seed=1)
    values = swapped.train.images.numpy()[:, 0]
    assert np.array_equal(values == 76, swapped.train.labels.numpy() == 1)  # round(0.3 * 255) = 76
    with pytest.raises(SpecError, match=r"multiple of cells"):
        load("perlin", None, "size=30")


def test_perlin_noise_is_smooth_and_fast() -> None:
    field = perlin_noise(4, 64, 4, np.random.default_rng(0))
    assert field.shape == (4, 64, 64) and np.abs(field).max() <= 0.75
    steps = np.abs(np.diff(field, axis=2))  # pixel-to-pixel changes; cell borders are at columns 15|16, 31|32, ...
    border, inside = steps[:, :, 15::16].max(), np.delete(steps, np.s_[15::16], axis=2).max()
    assert inside < 0.15 and border < 1.5 * inside  # continuous across lattice cells
    start = time.perf_counter()
    perlin_noise(2000, 64, 4, np.random.default_rng(0))
    assert time.perf_counter() - start < 5.0


def test_catalog() -> None:
    specs = {spec.name: spec for spec in DATASETS}
    expected = {
        "mnist",
        "fashion_mnist",
        "usps",
        "mnist_m",
        "black",
        "pbc",
        "wbc_zheng",
        "wbc_zheng_seg",
        "isbi2012",
        "medmnist",
        "imagefolder",
        "maskfolder",
        "perlin",
        *OFFICIAL,
    }
    assert set(specs) == expected
    shared = ("neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil")
    for name in ("pbc", "wbc_zheng", "bloodmnist"):
        assert set(shared) <= set(specs[name].class_names)
    assert specs["mnist"].class_names == specs["usps"].class_names == specs["mnist_m"].class_names
    for spec in DATASETS:
        assert spec.needs_data_root == bool(spec.folder)
        for file in spec.files:
            assert len(file.sha256) in (0, 64) and (not file.url or file.url.startswith("http"))
    assert specs["wbc_zheng_seg"].task_type == "segmentation" and specs["wbc_zheng_seg"].domains == ("lab1", "lab2")


def test_plugin_import_is_cheap_and_registered() -> None:
    code = (
        "import sys, dabench_datasets; specs = list(dabench_datasets.register_datasets()); "
        "assert 'torch' not in sys.modules and 'PIL' not in sys.modules, 'heavy import'; print(len(specs))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(DATASETS)
    from importlib.metadata import entry_points

    assert any(ep.value == "dabench_datasets" for ep in entry_points(group="dabench"))
