"""Bad data is one DataError line naming the dataset and the file (or folder), never an ``ok`` record: labels out of
range, empty or too-small splits, one-class data, float pixels, images of another size, corrupt archives — through
the loaders, through ``DataSource`` (the checks run for every dataset), and end to end through ``dabench run`` /
``dabench sweep``."""

from __future__ import annotations

import gzip
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dabench import DataError, DatasetSpec, DatasetSplits, LabeledSplit, LoadContext
from dabench.cli import main
from dabench.registry import build_registry
from dabench.run.datasource import DataSource
from dabench.run.validation import as_uint8, validate_splits
from dabench.seeding import Seeds
from dabench_datasets.medmnist import read_npz

SIZES = {"train": 12, "val": 4, "test": 6}


def _npz(path: Path, *, size: int = 28, channels: int = 3, classes: int = 8, **override: np.ndarray) -> Path:
    """A MedMNIST-format npz (labels ``[N, 1]``); ``override`` replaces arrays, e.g. ``test_labels=...``."""
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {}
    for split, n in SIZES.items():
        shape = (n, size, size, 3) if channels == 3 else (n, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes)[:, None]
    arrays.update(override)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def _folder(base: Path, classes: tuple[str, ...], n: int = 10, size: int = 8) -> None:
    for index, name in enumerate(classes):
        (base / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (size, size), (index * 40, i, 0)).save(base / name / f"{i}.png")


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _mnist(folder: Path, size: int) -> None:
    folder.mkdir(parents=True)
    for prefix, n in (("train", 12), ("t10k", 6)):
        images = np.zeros((n, size, size), dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        labels = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))


def _one_line(exc: pytest.ExceptionInfo[DataError], *names: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------- through the loaders


def test_one_class_imagefolder_names_the_folder(tmp_path: Path, load) -> None:
    _folder(tmp_path / "imagefolder" / "one", ("only",))
    with pytest.raises(DataError) as exc:
        load("imagefolder", tmp_path, "one")
    assert "single class ('only')" in _one_line(exc, str(tmp_path / "imagefolder" / "one"), "imagefolder:one")


def test_a_train_split_of_one_class_is_rejected(tmp_path: Path, load) -> None:
    labels = {"train_labels": np.zeros((12, 1), dtype=np.int64)}  # test holds classes 0-2, train only class 0
    _npz(tmp_path / "medmnist" / "mono.npz", classes=3, **labels)
    with pytest.raises(DataError) as exc:
        load("medmnist", tmp_path, "mono")
    assert "every train label" in _one_line(exc, "mono.npz", "medmnist:mono")


def test_float_images(tmp_path: Path, load) -> None:
    rng = np.random.default_rng(1)
    unit = {f"{s}_images": rng.random((n, 28, 28, 3), dtype=np.float32) for s, n in SIZES.items()}
    _npz(tmp_path / "medmnist" / "unit.npz", **unit)
    with pytest.raises(DataError) as exc:
        load("medmnist", tmp_path, "unit")
    assert "values in [0, 1]" in _one_line(exc, "unit.npz", "train split")
    half = {k: v * 255 for k, v in unit.items()}  # 0-255 scale, but not integers
    _npz(tmp_path / "medmnist" / "half.npz", **half)
    with pytest.raises(DataError, match=r"half\.npz: images are float32 with non-integer values"):
        load("medmnist", tmp_path, "half")
    whole = {k: np.round(v).astype(np.float64) for k, v in half.items()}  # integral 0-255 floats: lossless
    _npz(tmp_path / "medmnist" / "whole.npz", **whole)
    splits = load("medmnist", tmp_path, "whole")
    assert splits.train.images.dtype == torch.uint8
    assert np.array_equal(splits.train.images.numpy(), whole["train_images"].transpose(0, 3, 1, 2).astype(np.uint8))


def test_pixel_policy() -> None:
    assert as_uint8(torch.tensor([[[[0, 255]]]], dtype=torch.int64), "x").dtype == torch.uint8
    for bad, match in (
        (torch.tensor([[[[0, 256]]]], dtype=torch.int16), r"0 to 256, outside the uint8 range"),
        (torch.tensor([[[[-1.0, 3.0]]]]), r"-1 to 3, outside"),
        (torch.tensor([[[[float("nan"), 3.0]]]]), r"NaN"),
        (torch.tensor([[[[0.0, 1.0]]]]), r"values in \[0, 1\]"),
        (torch.tensor([[[[True, False]]]]), r"dtype bool"),
    ):
        with pytest.raises(DataError, match=match):
            as_uint8(bad, "dataset 'x', train split of x.npz")


def test_labels_out_of_range(tmp_path: Path, load) -> None:
    path = _npz(tmp_path / "medmnist" / "pathmnist.npz", classes=9, test_labels=np.full((6, 1), 12))
    with pytest.raises(DataError) as exc:
        load("pathmnist", tmp_path)
    message = _one_line(exc, str(path), "test split")
    assert "6 of 6 labels are out of range (values 12)" in message and "valid labels are 0-8" in message
    _npz(path, classes=9, val_labels=np.array([[0], [-1], [3], [-1]]))
    with pytest.raises(DataError, match=r"val split of .*pathmnist\.npz: 2 of 4 labels .* \(values -1\)"):
        load("medmnist", tmp_path, "pathmnist")  # an official stem under medmnist: its 9 classes are checked


def test_labels_12_for_a_10_class_dataset_and_masks(tmp_path: Path) -> None:
    """The checks run in ``DataSource`` for any plugin's dataset, with the spec's declared classes."""
    path = _npz(tmp_path / "digits10.npz", channels=1, classes=10, train_labels=(np.arange(12) % 13)[:, None])
    spec = DatasetSpec(
        name="npz10",
        load=lambda ctx: read_npz(path),
        num_classes=10,
        input_shape=(1, 28, 28),
        license="CC0",
        homepage="https://example.org",
    )
    masks = torch.zeros((4, 8, 8), dtype=torch.int64)
    masks[0, 0, :3] = 3
    seg = DatasetSpec(
        name="seg2",
        load=lambda ctx: DatasetSplits(
            train=LabeledSplit(images=torch.zeros((4, 1, 8, 8), dtype=torch.uint8), labels=masks),
            test=LabeledSplit(images=torch.zeros((2, 1, 8, 8), dtype=torch.uint8), labels=masks[:2]),
            source="masks.tar",
        ),
        num_classes=2,
        input_shape=(1, 8, 8),
        task_type="segmentation",
        license="CC0",
        homepage="https://example.org",
    )
    registry = build_registry()
    registry.datasets.add(spec, "datasets")
    registry.datasets.add(seg, "datasets")
    data = DataSource(registry, tmp_path, Seeds(0))
    with pytest.raises(DataError) as exc:
        data.load("npz10")
    assert "(values 10, 11)" in _one_line(exc, str(path), "dataset 'npz10'", "valid labels are 0-9")
    with pytest.raises(DataError) as exc:
        data.load("seg2")
    assert "3 of 256 mask pixels are out of range (values 3)" in _one_line(exc, "masks.tar", "train split")


def test_empty_and_too_small_splits(tmp_path: Path, load) -> None:
    empty = {"test_images": np.zeros((0, 28, 28, 3), np.uint8), "test_labels": np.zeros((0, 1), np.int64)}
    _npz(tmp_path / "medmnist" / "notest.npz", **empty)
    with pytest.raises(DataError) as exc:
        load("medmnist", tmp_path, "notest")
    assert "the test split of" in _one_line(exc, "notest.npz") and "is empty" in str(exc.value)
    tiny = {"train_images": np.zeros((1, 28, 28, 3), np.uint8), "train_labels": np.zeros((1, 1), np.int64)}
    _npz(tmp_path / "medmnist" / "tiny.npz", **tiny)
    with pytest.raises(DataError) as exc:
        load("medmnist", tmp_path, "tiny")
    assert "has 1 samples; a run needs at least 2" in _one_line(exc, "tiny.npz")


def test_images_of_another_size(tmp_path: Path, load) -> None:
    _npz(tmp_path / "medmnist" / "bloodmnist.npz", size=64)
    with pytest.raises(DataError) as exc:
        load("bloodmnist", tmp_path)
    message = _one_line(exc, "bloodmnist.npz", "3×64×64", "declares 3×28×28")
    assert "domains: 28, 64, 128, 224" in message
    _npz(tmp_path / "medmnist" / "bloodmnist_64.npz", size=64)
    assert load("bloodmnist", tmp_path, "64").train.images.shape[1:] == (3, 64, 64)
    _mnist(tmp_path / "mnist", size=64)
    with pytest.raises(DataError) as exc:
        load("mnist", tmp_path)
    _one_line(exc, str(tmp_path / "mnist"), "1×64×64", "declares 1×28×28")
    # loaders whose domain picks the size keep working, and so does an ImageFolder's size option
    _folder(tmp_path / "imagefolder" / "cells", ("a", "b"), size=12)
    assert load("imagefolder", tmp_path, "cells").train.images.shape[1:] == (3, 12, 12)
    assert load("imagefolder", tmp_path, "cells,size=20,channels=1").test.images.shape[1:] == (1, 20, 20)
    assert load("perlin", None, "size=32,n_train=4,n_test=2").train.images.shape[1:] == (1, 32, 32)
    assert load("black", None, "size=10,channels=3,n_train=4,n_test=2").test.images.shape[1:] == (3, 10, 10)


def test_medmnist_format_is_read_from_the_file(tmp_path: Path, load) -> None:
    flat = {f"{s}_labels": np.arange(n) % 5 for s, n in SIZES.items()}  # labels [N], not [N, 1]
    _npz(tmp_path / "medmnist" / "grey32.npz", size=32, channels=1, **flat)
    splits = load("medmnist", tmp_path, "grey32")
    assert splits.train.images.shape == (12, 1, 32, 32) and splits.num_classes == 5 and splits.class_names == ()
    assert splits.source == str(tmp_path / "medmnist" / "grey32.npz")
    _npz(tmp_path / "medmnist" / "rgb64.npz", size=64, classes=3)
    rgb = load("medmnist", tmp_path, "rgb64")
    assert rgb.val is not None and rgb.val.images.shape[1:] == (3, 64, 64) and rgb.num_classes == 3
    mixed = {"test_images": np.zeros((6, 32, 32, 3), np.uint8)}
    _npz(tmp_path / "medmnist" / "mixed.npz", **mixed)
    with pytest.raises(DataError, match=r"test split of .*mixed\.npz: images are 3×32×32 .* declares 3×28×28"):
        load("medmnist", tmp_path, "mixed")
    np.savez(tmp_path / "medmnist" / "half.npz", train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError) as exc:
        load("medmnist", tmp_path, "half")
    assert "missing train_labels, val_images" in _one_line(exc, "half.npz", "found train_images")


def test_archive_errors_are_one_line(tmp_path: Path, load) -> None:
    folder = tmp_path / "pbc_acevedo2020"
    folder.mkdir()
    (folder / "PBC_dataset_normal_DIB.zip").write_bytes(b"PK\x03\x04" + b"\0" * 200)  # a cut-off zip
    with pytest.raises(DataError) as exc:
        load("pbc", tmp_path)
    assert "truncated or corrupt" in _one_line(exc, "PBC_dataset_normal_DIB.zip")
    with zipfile.ZipFile(folder / "PBC_dataset_normal_DIB.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("PBC_dataset_normal_DIB/basophil/BA_1.jpg", bytes(range(256)) * 64)
    data = bytearray((folder / "PBC_dataset_normal_DIB.zip").read_bytes())
    data[80:120] = b"\xff" * 40  # a damaged member: the archive opens, reading the member fails
    (folder / "PBC_dataset_normal_DIB.zip").write_bytes(bytes(data))
    with pytest.raises(DataError) as exc:
        load("pbc", tmp_path)
    assert "truncated or corrupt" in _one_line(exc, "PBC_dataset_normal_DIB.zip")
    good = _npz(tmp_path / "medmnist" / "good.npz").read_bytes()
    (tmp_path / "medmnist" / "cut.npz").write_bytes(good[: len(good) * 2 // 3])
    with pytest.raises(DataError) as exc:
        load("medmnist", tmp_path, "cut")
    assert "truncated or not an npz file" in _one_line(exc, "cut.npz")
    (tmp_path / "wbc_seg_zheng2018").mkdir()
    (tmp_path / "wbc_seg_zheng2018" / "wbc_seg_zheng2018.tar.gz").write_bytes(b"not a tarball at all")
    with pytest.raises(DataError) as exc:  # tarfile's own message spans several lines
        load("wbc_zheng", tmp_path, "lab1")
    _one_line(exc, "wbc_seg_zheng2018.tar.gz")
    _mnist(tmp_path / "mnist", size=28)
    raw = gzip.decompress((tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x1f\x8b" + raw[2:]))
    with pytest.raises(DataError) as exc:
        load("mnist", tmp_path)
    assert "is not an IDX file" in _one_line(exc, "t10k-images-idx3-ubyte.gz")


def test_raw_read_errors_of_any_loader_become_one_line(tmp_path: Path) -> None:
    def broken(ctx: LoadContext) -> DatasetSplits:
        with zipfile.ZipFile(tmp_path / "theirs.zip"):  # not a zip: a plugin that opens files itself
            raise AssertionError("unreachable")

    (tmp_path / "theirs.zip").write_bytes(b"junk")
    spec = DatasetSpec(
        name="theirs", load=broken, num_classes=2, input_shape=(1, 4, 4), license="CC0", homepage="https://x.org"
    )
    registry = build_registry()
    registry.datasets.add(spec, "datasets")
    with pytest.raises(DataError) as exc:
        DataSource(registry, tmp_path, Seeds(0)).load("theirs")
    assert "BadZipFile" in _one_line(exc, "dataset 'theirs'", "dabench data verify theirs")
    with pytest.raises(DataError, match=r"returned NoneType, not dabench.DatasetSplits"):
        validate_splits(spec, None, label="theirs")


# ------------------------------------------------------------------------------------------ the requested use


def _named(name: str, classes: tuple[str, ...], train: list[int], test: list[int]) -> DatasetSpec:
    def load(ctx: LoadContext) -> DatasetSplits:
        def split(labels: list[int]) -> LabeledSplit:
            return LabeledSplit(
                images=torch.zeros((len(labels), 1, 4, 4), dtype=torch.uint8), labels=torch.tensor(labels)
            )

        return DatasetSplits(train=split(train), test=split(test), source=f"{name}.npz")

    return DatasetSpec(
        name=name,
        load=load,
        num_classes=len(classes),
        input_shape=(1, 4, 4),
        class_names=classes,
        license="CC0",
        homepage="https://example.org",
    )


def test_what_a_cross_dataset_run_keeps_must_be_usable() -> None:
    from dabench.run.datasource import aligned_splits
    from dabench.run.resolve import RunRequest, resolve

    registry = build_registry()
    for spec in (
        _named("src", ("a", "b", "c"), [0, 1, 2, 0, 1, 2], [0, 1, 2]),
        _named("one_shared", ("a", "x"), [0, 1, 0, 1], [0, 1]),
        _named("two_shared", ("a", "c", "y"), [0, 1, 2, 2], [0, 1, 2]),
        _named("src_poor", ("a", "b", "c"), [0, 0, 2, 2], [0, 1, 2]),
        _named("ab", ("a", "b", "z"), [0, 1, 2, 0], [0, 1]),
    ):
        registry.datasets.add(spec, "datasets")

    def align(dataset: str, target: str) -> int:
        spec = resolve(RunRequest(method="source_only", dataset=dataset, target=target, n_bootstrap=0), registry)
        return aligned_splits(spec, registry, DataSource(registry, None, Seeds(0)))[2]

    assert align("src", "two_shared") == 2
    with pytest.raises(DataError, match=r"share only the class 'a'"):
        align("src", "one_shared")
    with pytest.raises(
        DataError, match=r"'src_poor': of the classes it shares .*\(a, b\), its train split holds only 'a'"
    ):
        align("src_poor", "ab")


def test_a_one_class_control_is_da_data_not_a_source(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert len(DataSource(build_registry(), None, Seeds(0)).load("black:n_train=4,n_test=2").train) == 4
    argv = ["run", "--method", "source_only", "--dataset", "black:n_train=4,n_test=2", "--n-bootstrap", "0"]
    assert main([*argv, "--store", str(tmp_path / "runs")]) == 2
    assert "single class, so it cannot be the labelled source" in capsys.readouterr().err
    assert not list((tmp_path / "runs").rglob("*.json"))


# ------------------------------------------------------------------------------------------------ end to end


def _bad_roots(root: Path) -> dict[str, str]:
    """One data root holding every kind of bad data; maps a kind to the dataset that reads it."""
    _folder(root / "imagefolder" / "one", ("only",))
    rng = np.random.default_rng(2)
    floats = {f"{s}_images": rng.random((n, 28, 28, 3), dtype=np.float32) for s, n in SIZES.items()}
    _npz(root / "medmnist" / "floaty.npz", **floats)
    _npz(root / "medmnist" / "pathmnist.npz", classes=9, train_labels=np.full((12, 1), 12))
    _npz(root / "medmnist" / "notest.npz", test_images=np.zeros((0, 28, 28, 3), np.uint8), test_labels=np.zeros((0, 1)))
    _npz(root / "medmnist" / "bloodmnist.npz", size=64)
    good = _npz(root / "medmnist" / "good.npz").read_bytes()
    (root / "medmnist" / "cut.npz").write_bytes(good[: len(good) // 2])
    (root / "pbc_acevedo2020").mkdir()
    (root / "pbc_acevedo2020" / "PBC_dataset_normal_DIB.zip").write_bytes(b"PK\x03\x04 garbage")
    return {
        "one-class": "imagefolder:one",
        "float images": "medmnist:floaty",
        "labels out of range": "pathmnist",
        "empty split": "medmnist:notest",
        "another size": "bloodmnist",
        "truncated npz": "medmnist:cut",
        "corrupt zip": "pbc",
    }


FILES = {
    "one-class": "imagefolder/one",
    "float images": "floaty.npz",
    "labels out of range": "pathmnist.npz",
    "empty split": "notest.npz",
    "another size": "bloodmnist.npz",
    "truncated npz": "cut.npz",
    "corrupt zip": "PBC_dataset_normal_DIB.zip",
}


def test_dabench_run_exits_2_with_one_line_and_stores_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data"
    store = tmp_path / "runs"
    for kind, dataset in _bad_roots(root).items():
        argv = ["run", "--method", "source_only", "--dataset", dataset, "--n-bootstrap", "0"]
        for _ in range(2):  # the second run must not find (and print) a cached record either
            code = main([*argv, "--data-root", str(root), "--store", str(store), "--set", "epochs=1"])
            lines = capsys.readouterr().err.strip().splitlines()
            assert code == 2, (kind, lines)
            assert len(lines) == 1 and lines[0].startswith(f"error: dataset {dataset!r}"), (kind, lines)
            assert FILES[kind] in lines[0], (kind, lines)
        assert not list(store.rglob("*.json")), kind


def test_a_sweep_records_bad_data_as_failed_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data"
    _folder(root / "imagefolder" / "one", ("only",))
    sweep = tmp_path / "bad.toml"
    sweep.write_text(
        'name = "bad"\n[grid]\nmethod = ["source_only"]\ndataset = ["imagefolder:one"]\nseed = [0]\n'
        "[params]\nepochs = 1\n[options]\nn_bootstrap = 0\n"
    )
    code = main(["sweep", str(sweep), "--data-root", str(root), "--store", str(tmp_path / "runs")])
    capsys.readouterr()
    (path,) = (tmp_path / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    assert code == 1 and record["status"] == "failed"
    assert record["error"].startswith("DataError: dataset 'imagefolder:one'") and "single class" in record["error"]
