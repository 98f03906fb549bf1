"""Any user's segmentation data: images and masks paired by file stem, selected as ``maskfolder:path=<folder>``.

Layouts (``<folder>`` absolute, or relative to the data root; ``maskfolder:<folder>`` is short for ``path=``):

* ``<folder>/images/*`` + ``<folder>/masks/*``: a seeded 7:1:2 train/val/test split of the pairs;
* ``<folder>/train/`` and ``<folder>/test/`` (and optionally ``<folder>/val/``), each holding ``images/`` +
  ``masks/``: those splits.

``images/a.png`` pairs with ``masks/a.png`` (or ``a.tif``, ...): images may be PNG, TIFF, JPEG or BMP, masks PNG,
TIFF or BMP (lossless). A mask holds one integer class id per pixel (0 = background, 1 .. C-1 the others; a grey or
palette PNG), or grey values that the option ``values`` maps to class ids in order: ``values=0,255`` reads binary
0/255 masks as background/foreground. Options:

* ``size``: resize every pair to ``size × size`` (bicubic images, nearest-neighbour masks); default 0 = keep, all
  images must then share one size;
* ``grey``: ``auto`` (default: one channel when every image is grey, else RGB), ``1`` (grey) or ``0`` (RGB);
* ``classes``: class names in id order (``classes=background,membrane``); without them the masks define the number
  of classes (their values must then be the consecutive ids 0 .. C-1) and the classes have no names.

Lists take commas (``values=0,128,255``) or ``|``; a path cannot contain a comma. Every pixel value is checked: a
mask value outside the declared classes or ``values`` is a :class:`dabench.DataError` naming the file and the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LoadContext, SpecError, stratified_split
from dabench_datasets.options import parse_domain
from dabench_datasets.reading import labeled, reason, resize

if TYPE_CHECKING:
    import numpy as np

DATASET = "maskfolder"
IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp")
SPLITS = ("train", "val", "test")
LIST_OPTIONS = ("values", "classes")
DEFAULTS = {"path": "", "size": 0, "grey": "auto", "values": "", "classes": ""}
GREY = {"auto": None, "1": True, "true": True, "0": False, "false": False}
MAX_SIZE = 2048
MAX_CLASSES = 256  # class ids are resized as uint8
EXAMPLE = "maskfolder:path=/data/cells,values=0,255"


@dataclass(frozen=True)
class Options:
    """A parsed ``maskfolder`` domain: the folder and how to read it."""

    folder: Path
    size: int
    grey: bool | None
    values: tuple[int, ...]
    classes: tuple[str, ...]


def _gather_lists(domain: str) -> str:
    """The domain with the comma-continued items of a list option joined by ``|`` (``values=0,255`` becomes
    ``values=0|255``), so that :func:`parse_domain` sees one token per option."""
    tokens: list[str] = []
    in_list = False
    for token in (t.strip() for t in domain.split(",")):
        if "=" in token:
            in_list = token.partition("=")[0].strip() in LIST_OPTIONS
            tokens.append(token)
        elif in_list and token:
            tokens[-1] += f"|{token}"
        else:
            tokens.append(token)
    return ",".join(tokens)


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split("|") if item.strip()]


def parse_options(ctx: LoadContext) -> Options:
    """The options of ``ctx.domain``, with the folder resolved against the data root; a SpecError or DataError
    that says what to write instead."""
    options = parse_domain(_gather_lists(ctx.domain or ""), DEFAULTS, dataset=DATASET)
    if options.name and options["path"]:
        raise SpecError(f"dataset {DATASET!r}: give the folder once, as path=...; got {ctx.domain!r}.")
    text = options["path"] or options.name or ""
    if not text:
        raise SpecError(
            f"dataset {DATASET!r} needs the folder holding images/ and masks/: select it as {EXAMPLE!r} "
            "(an absolute path, or one relative to the data root)."
        )
    folder = Path(text).expanduser()
    if not folder.is_absolute():
        if ctx.root is None:
            raise DataError(
                f"dataset {DATASET!r}: path {text!r} is relative, so it is read under the data root, but none is "
                "set: give an absolute path, or set DABENCH_DATA (or pass --data-root)."
            )
        folder = Path(ctx.root) / folder
    size, grey = options["size"], options["grey"].lower()
    if not 0 <= size <= MAX_SIZE or grey not in GREY:
        raise SpecError(
            f"dataset {DATASET!r}: size must be 0 (keep) to {MAX_SIZE} and grey one of auto, 1, 0; got {ctx.domain!r}."
        )
    try:
        values = tuple(int(v) for v in _items(options["values"]))
    except ValueError:
        raise SpecError(
            f"dataset {DATASET!r}: values={options['values'].replace('|', ',')!r} must list integer grey values "
            "in class order, e.g. values=0,255."
        ) from None
    classes = tuple(_items(options["classes"]))
    for what, listed in (("values", values), ("classes", classes)):
        if listed and (not 2 <= len(listed) <= MAX_CLASSES or len(set(listed)) != len(listed)):
            raise SpecError(
                f"dataset {DATASET!r}: {what} must list 2 to {MAX_CLASSES} distinct entries in class order; got "
                f"{', '.join(map(str, listed))}."
            )
    if values and classes and len(values) != len(classes):
        raise SpecError(
            f"dataset {DATASET!r}: {len(values)} values for {len(classes)} classes; give one grey value per class."
        )
    return Options(folder=folder, size=size, grey=GREY[grey], values=values, classes=classes)


def _by_stem(folder: Path, extensions: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        if file.is_file() and not file.name.startswith(".") and file.suffix.lower() in extensions:
            if file.stem in files:
                raise DataError(
                    f"dataset {DATASET!r}: {files[file.stem].name} and {file.name} in {folder} share the stem "
                    f"{file.stem!r}; keep one file per stem so each image pairs with one mask."
                )
            files[file.stem] = file
    return files


def pairs(folder: Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` files of ``folder/images`` and ``folder/masks``, paired by stem, in stem order."""
    for sub in ("images", "masks"):
        if not (folder / sub).is_dir():
            raise DataError(
                f"dataset {DATASET!r}: {folder / sub} does not exist; {folder} must hold images/ and masks/ (files "
                "paired by name), or train/ and test/ folders that each hold them."
            )
    images = _by_stem(folder / "images", IMAGE_EXTENSIONS)
    masks = _by_stem(folder / "masks", MASK_EXTENSIONS)
    if not images:
        raise DataError(f"dataset {DATASET!r}: no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder / 'images'}.")
    for stems, missing, where, kinds in (
        (images, masks, "masks", MASK_EXTENSIONS),
        (masks, images, "images", IMAGE_EXTENSIONS),
    ):
        lonely = sorted(set(stems) - set(missing))
        if lonely:
            more = f" (and {len(lonely) - 1} more)" if len(lonely) > 1 else ""
            raise DataError(
                f"dataset {DATASET!r}: {stems[lonely[0]]}{more} has no {where[:-1]} in {folder / where} (expected "
                f"{lonely[0]} with one of {', '.join(kinds)}); add it or remove the file."
            )
    return [(images[stem], masks[stem]) for stem in sorted(images)]


def _open_error(path: Path, exc: BaseException) -> DataError:
    return DataError(f"dataset {DATASET!r}: {path} cannot be decoded ({reason(exc)}); it is truncated or not an image.")


def read_image(path: Path) -> np.ndarray:
    """One image as uint8 ``[H, W]`` (grey) or ``[H, W, 3]``; 16-bit or float images only when their values are
    integers in 0-255 (anything else would need a rescaling dabench does not guess)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode in ("L", "1", "LA"):
                return np.asarray(image.convert("L"), dtype=np.uint8)
            if image.mode.startswith(("I", "F")):
                raw = np.asarray(image)
                if raw.size and (raw.min() < 0 or raw.max() > 255 or not np.array_equal(raw, np.round(raw))):
                    raise DataError(
                        f"dataset {DATASET!r}: image {path} holds {image.mode} values {raw.min():g} to {raw.max():g}; "
                        "dabench reads 8-bit images (0-255): convert it to 8-bit."
                    )
                return raw.astype(np.uint8)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _open_error(path, exc) from exc


def _equal_channels(array: np.ndarray) -> bool:
    """Whether an ``[H, W, >=3]`` array is grey: its first three channels are equal everywhere."""
    first = array[..., 0]
    return array.shape[2] >= 3 and bool((first == array[..., 1]).all() and (first == array[..., 2]).all())


def read_mask(path: Path) -> np.ndarray:
    """One mask's stored pixel values as int64 ``[H, W]``: grey, palette-index, 16-bit or 1-bit (0/1) values; an
    RGB mask only when it is grey (equal channels)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            raw = np.asarray(image)
            mode = image.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _open_error(path, exc) from exc
    if raw.ndim == 3:
        if mode in ("LA", "PA") or _equal_channels(raw):
            raw = raw[..., 0]
        else:
            raise DataError(
                f"dataset {DATASET!r}: mask {path} is a colour ({mode}) image; a mask holds one class id (or grey "
                "value, see values=) per pixel: save it as a grey or palette PNG."
            )
    if raw.dtype.kind == "f" and not np.array_equal(raw, np.round(raw)):
        raise DataError(f"dataset {DATASET!r}: mask {path} holds non-integer values; save integer class ids.")
    return raw.astype(np.int64)


def _shown(values: np.ndarray) -> str:
    return ", ".join(str(int(v)) for v in values[:8]) + (", ..." if len(values) > 8 else "")


def class_ids(masks: list[np.ndarray], files: list[Path], options: Options) -> tuple[list[np.ndarray], int]:
    """Masks as class ids ``0 .. C-1`` and ``C``: grey values mapped through ``values``, else the stored ids checked
    against the declared classes (or, without them, required to be the consecutive ids 0 .. C-1)."""
    import numpy as np

    present = [np.unique(mask) for mask in masks]
    if options.values:
        listed = np.asarray(options.values, dtype=np.int64)
        order = np.argsort(listed)
        for values, file in zip(present, files, strict=True):
            bad = np.setdiff1d(values, listed)
            if bad.size:
                raise DataError(
                    f"dataset {DATASET!r}: mask {file} holds values {_shown(bad)}, not among "
                    f"values={','.join(map(str, options.values))}; list every grey value the masks use, in class order."
                )
        return [order[np.searchsorted(listed[order], mask)] for mask in masks], len(listed)
    if options.classes:
        count = len(options.classes)
        for values, file in zip(present, files, strict=True):
            bad = values[(values < 0) | (values >= count)]
            if bad.size:
                raise DataError(
                    f"dataset {DATASET!r}: mask {file} holds values {_shown(bad)}, outside the {count} declared "
                    f"classes (ids 0-{count - 1}); map grey values to classes with values=..., e.g. values=0,255."
                )
        return masks, count
    found = np.unique(np.concatenate(present))
    if found.min() < 0 or not np.array_equal(found, np.arange(found.max() + 1)):
        where = next(f for f, v in zip(files, present, strict=True) if np.setdiff1d(v, np.arange(len(found))).size)
        raise DataError(
            f"dataset {DATASET!r}: the masks hold the values {_shown(found)} (e.g. {where}), not the consecutive class "
            f"ids 0..C-1; map grey values to classes with values={','.join(str(int(v)) for v in found[:8])} (in "
            "class order), or declare the classes with classes=..."
        )
    if len(found) < 2:
        raise DataError(
            f"dataset {DATASET!r}: every mask in {options.folder} is all 0 (background); there is nothing to segment. "
            "Check that the masks mark the foreground with class ids 1.. (or use values=...)."
        )
    if len(found) > MAX_CLASSES:
        raise DataError(f"dataset {DATASET!r}: the masks hold {len(found)} classes; at most {MAX_CLASSES} are read.")
    return masks, len(found)


def _channels(images: list[np.ndarray], grey: bool | None) -> list[np.ndarray]:
    """Every image grey ``[H, W]`` or every image RGB ``[H, W, 3]``: ``grey`` forces one; ``None`` picks grey when
    every image is grey (RGB with equal channels counts as grey)."""
    import numpy as np
    from PIL import Image

    def is_grey(image: np.ndarray) -> bool:
        return image.ndim == 2 or _equal_channels(image)

    if grey is None:
        grey = all(is_grey(image) for image in images)
    if grey:
        return [
            image
            if image.ndim == 2
            else image[..., 0]
            if is_grey(image)
            else np.asarray(Image.fromarray(image).convert("L"), dtype=np.uint8)
            for image in images
        ]
    return [np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image for image in images]


def _sized(images: list[np.ndarray], masks: list[np.ndarray], files: list[tuple[Path, Path]], size: int) -> None:
    """Check that each image and its mask share a size and, without ``size``, that all images do."""
    for image, mask, (image_file, mask_file) in zip(images, masks, files, strict=True):
        if image.shape[:2] != mask.shape:
            raise DataError(
                f"dataset {DATASET!r}: image {image_file} is {image.shape[1]}×{image.shape[0]} but its mask "
                f"{mask_file} is {mask.shape[1]}×{mask.shape[0]} (width×height); a mask must match its image."
            )
    shapes = sorted({image.shape[:2] for image in images})
    if not size and len(shapes) > 1:
        shown = ", ".join(f"{w}×{h}" for h, w in shapes[:4])
        raise DataError(
            f"dataset {DATASET!r}: the images have different sizes ({shown}); select the dataset with a size option, "
            f"e.g. 'maskfolder:path=...,size=256'."
        )


def load_maskfolder(ctx: LoadContext) -> DatasetSplits:
    """Images and masks paired by stem, with their own train/test folders or a seeded 7:1:2 split."""
    import numpy as np

    options = parse_options(ctx)
    root = options.folder
    if not root.is_dir():
        raise DataError(f"dataset {DATASET!r}: folder {root} does not exist; it must hold images/ and masks/.")
    has = {split: (root / split).is_dir() for split in SPLITS}
    if has["train"] != has["test"] and not (root / "images").is_dir():
        raise DataError(
            f"dataset {DATASET!r}: {root} has {'train' if has['train'] else 'test'}/ but no "
            f"{'test' if has['train'] else 'train'}/; give both (each with images/ and masks/), or put everything "
            "in images/ and masks/ for a seeded split."
        )
    folders = {s: root / s for s in SPLITS if has[s]} if has["train"] and has["test"] else {"all": root}
    files = {name: pairs(folder) for name, folder in folders.items()}
    flat = [pair for name in folders for pair in files[name]]
    images = _channels([read_image(image) for image, _ in flat], options.grey)
    raw = [read_mask(mask) for _, mask in flat]
    _sized(images, raw, flat, options.size)
    masks, num_classes = class_ids(raw, [mask for _, mask in flat], options)
    if options.size:
        images = [resize(image, options.size) for image in images]
        masks = [resize(mask.astype(np.uint8), options.size, nearest=True) for mask in masks]
    x, y = np.stack(images), np.stack(masks).astype(np.int64)
    starts = np.cumsum([0, *(len(files[name]) for name in folders)])
    index = {name: np.arange(starts[i], starts[i + 1]) for i, name in enumerate(folders)}
    if "all" in index:
        if len(flat) < 3:
            raise DataError(
                f"dataset {DATASET!r}: {root} holds {len(flat)} image+mask pair(s); a seeded split needs at least 3 "
                "(2 to train on, 1 to test). Add pairs, or give train/ and test/ folders."
            )
        parts = stratified_split(np.zeros(len(flat), dtype=np.int64), (0.7, 0.1, 0.2), ctx.rng)
        index = dict(zip(SPLITS, parts, strict=True))
    elif len(index["train"]) < 2:
        raise DataError(
            f"dataset {DATASET!r}: {root / 'train'} holds {len(index['train'])} image+mask pair; training needs at "
            "least 2."
        )
    split = {
        name: labeled(x[p], y[p], channels_last=True, source=str(folders.get(name, root)))
        for name, p in index.items()
        if len(p)
    }
    shape: tuple[int, int, int] = tuple(split["train"].images.shape[1:])  # type: ignore[assignment]
    return DatasetSplits(
        train=split["train"],
        val=split.get("val"),
        test=split["test"],
        class_names=options.classes,
        num_classes=None if options.classes else num_classes,
        input_shape=shape,
        source=str(root),
    )
