"""maskfolder: a user's images and masks paired by stem, their splits, the values mapping, resizing and the errors
that name the offending file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dabench import DataError, SpecError


def _mask(index: int, size: tuple[int, int], values: tuple[int, ...]) -> np.ndarray:
    """A ``size`` (width, height) mask cycling through ``values`` in vertical stripes, shifted by ``index``."""
    columns = (np.arange(size[0]) + index) % len(values)
    return np.tile(np.asarray(values, dtype=np.uint8)[columns], (size[1], 1))


def _pairs(
    folder: Path,
    stems: range | list[str],
    *,
    size: tuple[int, int] = (8, 8),
    values: tuple[int, ...] = (0, 1),
    rgb: bool = False,
) -> Path:
    """``folder/images/<stem>.png`` (grey value 10 × position, or a colour) with ``folder/masks/<stem>.png``."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    for index, stem in enumerate(str(s) for s in stems):
        colour = (index * 10, 200, 0) if rgb else index * 10
        Image.new("RGB" if rgb else "L", size, colour).save(folder / "images" / f"{stem}.png")
        Image.fromarray(_mask(index, size, values)).save(folder / "masks" / f"{stem}.png")
    return folder


def test_seeded_split_shapes_and_classes(tmp_path: Path, load) -> None:
    data = _pairs(tmp_path / "cells", range(10))
    splits = load("maskfolder", None, f"path={data}", seed=3)
    assert splits.val is not None and (len(splits.train), len(splits.val), len(splits.test)) == (7, 1, 2)
    assert splits.train.images.shape == (7, 1, 8, 8) and splits.train.labels.shape == (7, 8, 8)
    assert str(splits.train.labels.dtype) == "torch.int64" and set(np.unique(splits.test.labels.numpy())) == {0, 1}
    assert splits.num_classes == 2 and splits.class_names == () and splits.input_shape == (1, 8, 8)
    # each image and its mask stay together: image i (grey 10 i) has the stripes shifted by i
    for image, mask in zip(splits.train.images.numpy(), splits.train.labels.numpy(), strict=True):
        assert np.array_equal(mask, _mask(int(image[0, 0, 0]) // 10, (8, 8), (0, 1)))

    def test_ids(seed: int, root: Path | None = None, domain: str = f"path={data}") -> list[int]:
        return sorted(int(v) // 10 for v in load("maskfolder", root, domain, seed=seed).test.images[:, 0, 0, 0])

    assert test_ids(3) == test_ids(3) == test_ids(3, tmp_path, "path=cells") == test_ids(3, tmp_path, "cells")
    assert any(test_ids(seed) != test_ids(3) for seed in (4, 5, 6))
    with pytest.raises(DataError, match=r"path 'cells' is relative.*DABENCH_DATA"):
        load("maskfolder", None, "path=cells")
    with pytest.raises(SpecError, match=r"needs the folder holding images/ and masks/"):
        load("maskfolder", tmp_path)


def test_train_test_folders_and_channels(tmp_path: Path, load) -> None:
    root = tmp_path / "split"
    _pairs(root / "train", ["a", "b", "c"], rgb=True)
    _pairs(root / "test", ["x", "y"], rgb=True)
    splits = load("maskfolder", None, f"path={root}")
    assert splits.val is None and splits.train.images.shape == (3, 3, 8, 8) and len(splits.test) == 2
    assert splits.test.images[:, 0, 0, 0].tolist() == [0, 10] and splits.test.images[0, 1, 0, 0] == 200
    grey = load("maskfolder", None, f"path={root},grey=1")
    assert grey.train.images.shape == (3, 1, 8, 8)
    assert load("maskfolder", None, f"path={root},grey=0").train.images.shape[1] == 3
    _pairs(tmp_path / "greyrgb", range(3), rgb=False)
    assert load("maskfolder", None, f"path={tmp_path / 'greyrgb'},grey=0").train.images.shape[1] == 3
    (root / "test" / "images" / "x.png").unlink()
    with pytest.raises(DataError, match=r"masks/x\.png has no image"):
        load("maskfolder", None, f"path={root}")
    with pytest.raises(SpecError, match=r"grey one of auto, 1, 0"):
        load("maskfolder", None, f"path={root},grey=rgb")


def test_values_map_grey_levels_and_classes_are_checked(tmp_path: Path, load) -> None:
    binary = _pairs(tmp_path / "binary", range(5), values=(0, 255))
    with pytest.raises(DataError, match=r"values 0, 255 .*not the consecutive class ids.*values=0,255"):
        load("maskfolder", None, f"path={binary}")
    mapped = load("maskfolder", None, f"path={binary},values=0,255,classes=background,cell")
    assert set(np.unique(mapped.train.labels.numpy())) == {0, 1} and mapped.class_names == ("background", "cell")
    assert mapped.num_classes is None
    reversed_ = load("maskfolder", None, f"path={binary},values=255|0")  # the first value is class 0
    assert np.array_equal(reversed_.train.labels.numpy(), 1 - mapped.train.labels.numpy())
    with pytest.raises(DataError, match=r"masks/0\.png holds values 255, not among values=0,128"):
        load("maskfolder", None, f"path={binary},values=0,128")
    three = _pairs(tmp_path / "three", range(5), values=(0, 1, 2))
    assert load("maskfolder", None, f"path={three}").num_classes == 3
    with pytest.raises(DataError, match=r"masks/0\.png holds values 2, outside the 2 declared classes"):
        load("maskfolder", None, f"path={three},classes=background,cell")
    with pytest.raises(SpecError, match=r"3 values for 2 classes"):
        load("maskfolder", None, f"path={three},values=0,1,2,classes=a,b")
    with pytest.raises(SpecError, match=r"values='0,x' must list integer"):
        load("maskfolder", None, f"path={three},values=0,x")
    # palette and 1-bit masks are read by their stored values (palette indices, 0/1), not their display colours
    Image.fromarray(_mask(0, (8, 8), (0, 2))).convert("P").save(three / "masks" / "0.png")
    palette = Image.open(three / "masks" / "0.png")
    palette.putpalette([255, 0, 0] * 256)
    palette.save(three / "masks" / "0.png")
    Image.fromarray(_mask(1, (8, 8), (0, 255))).convert("1").save(three / "masks" / "1.png")
    labels = load("maskfolder", None, f"path={three}", raw=True)
    every = np.concatenate([s.labels.numpy().ravel() for s in (labels.train, labels.val, labels.test) if s])
    assert set(np.unique(every)) == {0, 1, 2}


def test_resize_is_nearest_on_masks(tmp_path: Path, load) -> None:
    data = _pairs(tmp_path / "mixed", range(6), values=(0, 1, 2))
    _pairs(data, ["big"], size=(16, 12), values=(0, 1, 2))
    Image.new("L", (16, 12), 255).save(data / "images" / "big.png")  # told apart from the 8×8 ones (0-50)
    with pytest.raises(DataError, match=r"different sizes \(8×8, 16×12\).*size="):
        load("maskfolder", None, f"path={data}")
    splits = load("maskfolder", None, f"path={data},size=16")
    assert splits.train.images.shape[1:] == (1, 16, 16) and splits.input_shape == (1, 16, 16)
    for image, mask in zip(splits.train.images.numpy(), splits.train.labels.numpy(), strict=True):
        assert set(np.unique(mask)) <= {0, 1, 2}  # nearest neighbour: no interpolated class ids
        if int(image[0, 0, 0]) < 60:
            small = _mask(int(image[0, 0, 0]) // 10, (8, 8), (0, 1, 2))
            assert np.array_equal(mask, np.kron(small, np.ones((2, 2), dtype=np.int64)))


def test_pairing_and_file_errors(tmp_path: Path, load) -> None:
    with pytest.raises(DataError, match=r"folder .*absent does not exist"):
        load("maskfolder", None, f"path={tmp_path / 'absent'}")
    data = _pairs(tmp_path / "d", range(4))
    Image.new("L", (8, 8)).save(data / "images" / "lonely.tif")
    with pytest.raises(DataError, match=r"images/lonely\.tif has no mask in .*masks"):
        load("maskfolder", None, f"path={data}")
    Image.new("L", (6, 8)).save(data / "masks" / "lonely.png")
    with pytest.raises(DataError, match=r"image .*lonely\.tif is 8×8 but its mask .*lonely\.png is 6×8"):
        load("maskfolder", None, f"path={data}")
    Image.new("L", (8, 8)).save(data / "masks" / "lonely.bmp")
    with pytest.raises(DataError, match=r"lonely\.bmp and lonely\.png .* share the stem"):
        load("maskfolder", None, f"path={data}")
    few = _pairs(tmp_path / "few", range(2))
    with pytest.raises(DataError, match=r"holds 2 image\+mask pair\(s\); a seeded split needs at least 3"):
        load("maskfolder", None, f"path={few}")
    (few / "images" / "1.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"images/1\.png cannot be decoded"):
        load("maskfolder", None, f"path={few}")
    Image.new("L", (8, 8)).save(few / "images" / "1.png")
    Image.new("RGB", (8, 8), (255, 0, 0)).save(few / "masks" / "0.png")
    with pytest.raises(DataError, match=r"masks/0\.png is a colour \(RGB\) image"):
        load("maskfolder", None, f"path={few}")
    blank = _pairs(tmp_path / "blank", range(3), values=(0,))
    with pytest.raises(DataError, match=r"every mask .* is all 0"):
        load("maskfolder", None, f"path={blank}")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match=r"flat/images does not exist"):
        load("maskfolder", None, f"path={tmp_path / 'flat'}")


def test_cli_run_on_a_mask_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dabench.cli import main

    data = _pairs(tmp_path / "mine", range(6), values=(0, 255))
    args = ["run", "--method", "majority_class", "--dataset", f"maskfolder:path={data},values=0,255"]
    assert main([*args, "--n-bootstrap", "0", "--store", str(tmp_path / "store")]) == 0
    assert "dice" in capsys.readouterr().out
    assert main(["run", "--method", "majority_class", "--dataset", f"maskfolder:path={data}"]) == 2
    assert "values=0,255" in capsys.readouterr().err
