"""Any user's labelled images in the ImageFolder layout (one subfolder per class), under
``<data root>/imagefolder/<name>/``, selected as ``imagefolder:<name>``:

* ``<name>/train/<class>/*``, ``<name>/test/<class>/*`` (and optionally ``<name>/val/<class>/*``): those splits;
* ``<name>/<class>/*``: a seeded split, stratified by class, 7:1:2 train/val/test.

Class ids follow the sorted (lower-cased) class folder names. Options: ``channels`` (3 = RGB, 1 = grey; default 3)
and ``size`` (resize every image to ``size × size``, bicubic; default 0 = keep, all images must then share one size),
e.g. ``imagefolder:cells,size=64``.

References
----------
The layout of torchvision's ``ImageFolder`` (Marcel, S., Rodriguez, Y. Torchvision: the machine-vision package of
Torch. ACM Multimedia 2010).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LabeledSplit, LoadContext, SpecError, stratified_split
from dabench_datasets.options import parse_domain
from dabench_datasets.reading import dataset_folder, decode_image, labeled, resize

if TYPE_CHECKING:
    import numpy as np

FOLDER = "imagefolder"
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
SPLITS = ("train", "val", "test")


def _classes(path: Path) -> list[str]:
    return sorted(p.name.lower() for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_split(path: Path, classes: list[str], mode: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    images, labels = [], []
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name.lower() not in classes:
            raise DataError(f"{folder}: class {folder.name!r} is not among the training classes {classes}.")
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in EXTENSIONS and not file.name.startswith("."):
                image = decode_image(file.read_bytes(), str(file), mode)
                images.append(resize(image, size) if size else image)
                labels.append(classes.index(folder.name.lower()))
    if not images:
        raise DataError(f"{path}: no images ({', '.join(EXTENSIONS)}) in any class subfolder.")
    shapes = sorted({image.shape for image in images})
    if len(shapes) > 1:
        raise DataError(
            f"{path}: images have different sizes {shapes[:4]}; select the dataset with a size option, "
            f"e.g. 'imagefolder:{path.name},size=64'."
        )
    stacked = np.stack(images)
    return (stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)), np.array(labels)


def load_imagefolder(ctx: LoadContext) -> DatasetSplits:
    """Images in class subfolders (the ImageFolder layout), with their own splits or a seeded 7:1:2 split."""
    options = parse_domain(ctx.domain, {"channels": 3, "size": 0}, dataset="imagefolder")
    if options["channels"] not in (1, 3) or not 0 <= options["size"] <= 2048:
        raise SpecError(f"dataset 'imagefolder': channels must be 1 or 3 and size in 0-2048; got {ctx.domain!r}.")
    base = dataset_folder(ctx, FOLDER, "imagefolder")
    if not options.name:
        found = sorted(p.name for p in base.iterdir() if p.is_dir())
        raise SpecError(
            f"dataset 'imagefolder' needs a domain naming a folder under {base}, e.g. "
            f"'imagefolder:{found[0] if found else 'mycells'}'. Folders: {', '.join(found) or 'none'}."
        )
    root = base / options.name
    if not root.is_dir():
        raise DataError(f"dataset 'imagefolder': {root} does not exist; put one subfolder per class there.")
    mode, size = ("RGB" if options["channels"] == 3 else "L"), options["size"]
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = _classes(root / "train")
        parts = {s: _read_split(root / s, classes, mode, size) for s in SPLITS if (root / s).is_dir()}
        splits = {s: labeled(*parts[s], source=str(root / s)) for s in parts}
        return _described(splits["train"], splits.get("val"), splits["test"], classes, root)
    classes = _classes(root)
    images, labels = _read_split(root, classes, mode, size)
    train, val, test = (
        labeled(images[p], labels[p], source=str(root)) for p in stratified_split(labels, (0.7, 0.1, 0.2), ctx.rng)
    )
    return _described(train, val, test, classes, root)


def _described(
    train: LabeledSplit, val: LabeledSplit | None, test: LabeledSplit, classes: list[str], root: Path
) -> DatasetSplits:
    """The splits with what this load defines: the class folders and the (common) image shape of the train split."""
    shape: tuple[int, int, int] = tuple(train.images.shape[1:])  # type: ignore[assignment]
    return DatasetSplits(
        train=train, val=val, test=test, class_names=tuple(classes), input_shape=shape, source=str(root)
    )
