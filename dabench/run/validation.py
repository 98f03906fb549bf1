"""The checks every loaded dataset passes before anything uses it, whichever plugin's loader produced it.

:class:`~dabench.run.datasource.DataSource` runs :func:`validate_splits` right after ``spec.load(ctx)``, so bad data is
one :class:`~dabench.errors.DataError` naming the dataset, the file or folder it came from
(``DatasetSplits.source``), what is wrong and what is valid — never an ``ok`` record of a meaningless run:

* **pixel values**: uint8 is taken as is. Other integer dtypes with every value in 0-255, and floats whose values
  are all integers in 0-255 with a maximum above 1, are converted to uint8 losslessly (their scale is
  unambiguous). Everything else is rejected: non-finite or non-integer values, values outside 0-255, floats whose
  maximum is at most 1 (a [0, 1] scale that a cast would turn into near-black images), booleans;
* **image shape**: ``(C, H, W)`` must equal what the load promised: ``DatasetSplits.input_shape`` when the loader
  sets it (a size domain or option such as ``pbc:64``, a file-defined shape), else the spec's ``input_shape``;
* **labels**: integer values (converted to int64), ``[N]`` for classification and ``[N, H, W]`` masks of the
  images' size for segmentation, every value in ``0 .. num_classes - 1`` of the loaded label space
  (:func:`label_space`);
* **sizes**: a train split of at least :data:`MIN_TRAIN` samples and a non-empty test split;
* **classes**: a classification label space of at least two classes (unless the spec itself declares exactly one,
  like the all-black control data) and a train split with at least two distinct labels.

Only vectorised reductions run on good data (one ``aminmax`` per label tensor); value scans of images happen only
for non-uint8 images.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from dabench.data import DatasetSplits, LabeledSplit
from dabench.errors import DataError
from dabench.specs import DatasetSpec

MIN_TRAIN = 2
"""The smallest usable train split: training batches need two samples (BatchNorm), and ``dann4`` halves the DA
dataset's train split into two non-empty sets."""

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class _Where:
    """How messages name a split: ``dataset 'x', train split of /data/x.npz``."""

    label: str
    source: str
    split: str = ""

    def __str__(self) -> str:
        return f"dataset {self.label!r}, {self.split} split of {self.source}"


def label_space(spec: DatasetSpec, splits: DatasetSplits) -> tuple[tuple[str, ...], int]:
    """``(class names, number of classes)`` of a load: the loader's ``class_names`` or ``num_classes`` when set
    (the spec's names then do not apply), else the spec's."""
    if splits.class_names:
        return splits.class_names, len(splits.class_names)
    if splits.num_classes is not None:
        return (), splits.num_classes
    return spec.class_names, spec.num_classes


def source_of(spec: DatasetSpec, splits: DatasetSplits, root: Path | None) -> str:
    """What error messages name as the data's origin: the loader's ``source``, else the dataset's folder."""
    if splits.source:
        return splits.source
    if spec.folder:
        return str(Path(root) / spec.folder) if root is not None else f"'{spec.folder}/' under the data root"
    return f"the data {spec.name!r} generates"


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _dtype(values: torch.Tensor) -> str:
    return str(values.dtype).removeprefix("torch.")


def _range(values: torch.Tensor) -> str:
    lo, hi = torch.aminmax(values)
    return f"{lo.item():g} to {hi.item():g}"


def as_uint8(images: torch.Tensor, where: _Where | str) -> torch.Tensor:
    """``images`` as uint8 when that is lossless and unambiguous (see the module docstring), else a DataError."""
    if images.dtype == torch.uint8:
        return images
    fix = "store the pixels as uint8 0-255"
    if images.dtype == torch.bool or images.dtype.is_complex:
        raise DataError(f"{where}: images have dtype {_dtype(images)}; expected uint8 pixel values 0-255 ({fix}).")
    if images.numel() == 0:
        return images.to(torch.uint8)
    if images.dtype.is_floating_point:
        if not bool(torch.isfinite(images).all()):
            raise DataError(f"{where}: images contain NaN or infinite values; expected uint8 pixel values 0-255.")
        if float(images.max()) <= 1.0 and float(images.min()) >= 0.0:
            raise DataError(
                f"{where}: images are {_dtype(images)} with values in [0, 1], not 0-255 integers; dabench expects "
                "uint8 pixel values 0-255 and does not guess the scale: store them as uint8 (numpy: "
                "(images * 255).round().astype(np.uint8))."
            )
        if not bool((images == images.round()).all()):
            raise DataError(
                f"{where}: images are {_dtype(images)} with non-integer values ({_range(images)}); expected uint8 "
                f"pixel values 0-255: {fix}."
            )
    if float(images.min()) < 0 or float(images.max()) > 255:
        raise DataError(
            f"{where}: image values range from {_range(images)}, outside the uint8 range 0-255: rescale them to "
            f"0-255 and {fix}."
        )
    return images.to(torch.uint8)


def _as_int64(labels: torch.Tensor, where: _Where) -> torch.Tensor:
    if labels.dtype == torch.int64:
        return labels
    if labels.dtype.is_complex or (
        labels.dtype.is_floating_point and not bool((labels == labels.round()).all() and torch.isfinite(labels).all())
    ):
        raise DataError(f"{where}: labels are {_dtype(labels)} with non-integer values; expected integer class ids.")
    return labels.to(torch.int64)


def _check_labels(labels: torch.Tensor, where: _Where, num_classes: int, kind: str) -> None:
    """Every label (mask pixel) in ``0 .. num_classes - 1``; one ``aminmax`` unless some are out of range."""
    if labels.numel() == 0:
        return
    lo, hi = (int(v) for v in torch.aminmax(labels))
    if lo >= 0 and hi < num_classes:
        return
    bad = labels[(labels < 0) | (labels >= num_classes)]
    values = torch.unique(bad)
    shown = ", ".join(str(int(v)) for v in values[:5]) + (", ..." if len(values) > 5 else "")
    unit = "mask pixels" if kind == "segmentation" else "labels"
    raise DataError(
        f"{where}: {bad.numel()} of {labels.numel()} {unit} are out of range (values {shown}); the dataset has "
        f"{num_classes} classes, so valid labels are 0-{num_classes - 1} (0-based class ids). Fix the labels in "
        "the file, or declare the classes it really has."
    )


def _check_split(
    split: LabeledSplit, where: _Where, spec: DatasetSpec, shape: tuple[int, int, int], num_classes: int
) -> LabeledSplit:
    images = as_uint8(split.images, where)
    labels = _as_int64(split.labels, where)
    found = tuple(images.shape[1:])
    if len(images) and found != shape:
        sizes = f" (domains: {', '.join(spec.domains)})" if spec.domains else ""
        raise DataError(
            f"{where}: images are {_shape(found)} (C×H×W) but the dataset declares {_shape(shape)}; select the "
            f"variant that matches the file{sizes}, or convert the file to {_shape(shape)}."
        )
    wanted = (len(images), *shape[1:]) if spec.task_type == "segmentation" else (len(images),)
    if tuple(labels.shape) != wanted:
        kind = "masks [N, H, W] of the images' size" if spec.task_type == "segmentation" else "one label per image [N]"
        raise DataError(f"{where}: labels have shape {tuple(labels.shape)}; expected {kind}, i.e. {wanted}.")
    _check_labels(labels, where, num_classes, spec.task_type)
    if images is split.images and labels is split.labels:
        return split
    return LabeledSplit(images=images, labels=labels, groups=split.groups)


def _check_sizes(splits: DatasetSplits, label: str, source: str) -> None:
    if len(splits.train) < MIN_TRAIN:
        raise DataError(
            f"dataset {label!r}: the train split of {source} has {len(splits.train)} samples; a run needs at least "
            f"{MIN_TRAIN} (training batches of two or more, two non-empty DA halves in dann4). Add samples, or check "
            "that the file is complete."
        )
    if len(splits.test) == 0:
        raise DataError(
            f"dataset {label!r}: the test split of {source} is empty; a run is evaluated on it. Add test samples, or "
            "check that the file is complete."
        )


def _check_classes(spec: DatasetSpec, splits: DatasetSplits, label: str, source: str) -> None:
    names, num_classes = label_space(spec, splits)
    if num_classes == 1 and spec.num_classes != 1:
        which = f" ({names[0]!r})" if names else ""
        raise DataError(
            f"dataset {label!r}: {source} holds a single class{which}; a classifier needs at least 2 classes. Add "
            "images of the other classes (for an ImageFolder: one subfolder per class)."
        )
    if num_classes >= 2 and len(splits.train):
        lo, hi = (int(v) for v in torch.aminmax(splits.train.labels))
        if lo == hi:
            which = f" ({names[lo]!r})" if lo < len(names) else ""
            raise DataError(
                f"dataset {label!r}: every train label in {source} is {lo}{which}; a classifier needs at least 2 of "
                f"its {num_classes} classes in the train split. Check the labels, or the split of the file."
            )


def validate_splits(spec: DatasetSpec, splits: object, *, label: str, root: Path | None = None) -> DatasetSplits:
    """Check (and losslessly normalise) what ``spec.load`` returned for ``label`` (``name`` or ``name:domain``);
    raise :class:`DataError` naming the dataset and its file on anything a run cannot use (module docstring)."""
    if not isinstance(splits, DatasetSplits):
        raise DataError(
            f"dataset {label!r}: its loader returned {type(splits).__name__}, not dabench.DatasetSplits; the "
            "dataset's plugin is broken (report it to its authors)."
        )
    source = source_of(spec, splits, root)
    names, num_classes = label_space(spec, splits)
    if splits.num_classes is not None and splits.class_names and splits.num_classes != len(names):
        raise DataError(
            f"dataset {label!r}: its loader gives {len(names)} class names but num_classes={splits.num_classes} "
            f"for {source}; the two must agree."
        )
    if num_classes < 1:
        raise DataError(f"dataset {label!r}: {source} defines no classes; it needs at least one labelled class.")
    shape = splits.input_shape or spec.input_shape
    checked = {
        name: _check_split(split, _Where(label, source, name), spec, shape, num_classes)
        for name in SPLITS
        if (split := getattr(splits, name)) is not None
    }
    result = dataclasses.replace(splits, **checked)  # type: ignore[arg-type]
    _check_sizes(result, label, source)
    if spec.task_type == "classification":
        _check_classes(spec, result, label, source)
    return result
