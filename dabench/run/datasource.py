"""Where a run's data comes from: datasets loaded (and cached per run) from the data root, checked by
:mod:`dabench.run.validation`, converted to float, shifted in chunks with per-sample randomness, and aligned across
datasets."""

from __future__ import annotations

import lzma
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch

from dabench.data import DatasetSplits, LabeledSplit
from dabench.errors import DataError
from dabench.registry import Registry
from dabench.run import alignment
from dabench.run.validation import MIN_TRAIN, label_space, source_of, validate_splits
from dabench.runspec import ComponentRef, RunSpec, ShiftStep
from dabench.seeding import Seeds
from dabench.shiftrandom import ShiftRandom
from dabench.specs import DatasetSpec, LoadContext, ShiftContext

SHIFT_CHUNK_BYTES = 24 * 2**20  # keep temporaries under glibc's 32 MiB mmap threshold (DESIGN §7)
# What a loader that reads files without dabench's helpers may raise on a missing, truncated or corrupt file.
_READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError)


class DataSource:
    """Loads (and caches, per run) datasets by ``name`` or ``name:domain`` from the data root."""

    def __init__(self, registry: Registry, data_root: Path | None, seeds: Seeds) -> None:
        self.registry, self.data_root, self.seeds = registry, data_root, seeds
        self._cache: dict[str, DatasetSplits] = {}

    def load(self, ref: ComponentRef | str) -> DatasetSplits:
        text = ref.label() if isinstance(ref, ComponentRef) else ref
        if text not in self._cache:
            name, _, domain = text.partition(":")
            spec = self.registry.datasets.get(name)
            if spec.needs_data_root and self.data_root is None:
                raise DataError(
                    f"dataset {name!r} reads files from a data root, but none is set: pass --data-root DIR or set "
                    f"DABENCH_DATA (expected folder: DIR/{spec.folder or name}; see 'dabench data list')."
                )
            ctx = LoadContext(root=self.data_root, rng=self.seeds.numpy(f"data/{text}"), domain=domain or None)
            self._cache[text] = validate_splits(spec, read(spec, ctx, text), label=text, root=self.data_root)
        return self._cache[text]


def read(spec: DatasetSpec, ctx: LoadContext, label: str) -> Any:
    """``spec.load(ctx)``; its errors become one DataError line that names the dataset (a loader's own DataError
    gets the dataset prefixed when it names only the file) and the file (a raw read error of a plugin that opens
    files itself)."""
    try:
        return spec.load(ctx)
    except DataError as exc:
        message = " ".join(str(exc).split())
        if message == str(exc) and f"'{spec.name}" in message:
            raise
        prefix = "" if f"'{spec.name}" in message else f"dataset {label!r}: "
        raise DataError(prefix + message) from exc
    except _READ_ERRORS as exc:
        path = getattr(exc, "filename", None)
        where = path or (str(Path(ctx.root) / spec.folder) if ctx.root is not None and spec.folder else "its files")
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(
            f"dataset {label!r}: reading {where} failed ({type(exc).__name__}: {reason}); the file is missing, "
            f"truncated or corrupt. Check it with 'dabench data verify {spec.name}', or download it again."
        ) from exc


def to_float(split: LabeledSplit) -> LabeledSplit:
    return LabeledSplit(images=split.images.float().div_(255.0), labels=split.labels, groups=split.groups)


def apply_shifts(
    images: torch.Tensor,
    steps: tuple[ShiftStep, ...],
    registry: Registry,
    states: list[Any],
    seed: int,
    device: torch.device,
) -> torch.Tensor:
    """Apply a shift chain to float images in chunks on ``device``; sample ``i`` always gets the same noise."""
    if not steps:
        return images
    per_image = max(1, images[0].numel() * 4 * 8)
    chunk = max(1, SHIFT_CHUNK_BYTES // per_image)
    out = torch.empty_like(images)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(device)
        random = ShiftRandom.for_range(seed, start, start + len(x), device)
        for i, (step, state) in enumerate(zip(steps, states, strict=True)):
            x = registry.shifts.get(step.name).apply(x, step.intensity, random.stream(i), state)
        out[start : start + len(x)] = x.clamp(0.0, 1.0).to(out.device)
    return out


def apply_label_shifts(
    labels: torch.Tensor,
    steps: tuple[ShiftStep, ...],
    registry: Registry,
    states: list[Any],
    seed: int,
    device: torch.device,
) -> torch.Tensor:
    """The geometric part of a shift chain on int64 segmentation masks ``[N, H, W]``: each step with an
    ``apply_labels`` moves the masks as :func:`apply_shifts` moves the images of the same ``seed`` (sample ``i`` and
    step ``k`` draw from ``ShiftRandom.for_range(seed, i, i + 1).stream(k)`` whatever the chunking); photometric steps
    leave masks unchanged. Without a geometric step the masks themselves are returned."""
    moving = [spec.apply_labels for spec in (registry.shifts.get(step.name) for step in steps)]
    if not any(moving):
        return labels
    if labels.ndim != 3 or labels.dtype != torch.int64:
        raise DataError(
            f"a geometric shift moves segmentation masks, which are int64 [N, H, W]; got {labels.dtype} labels of "
            f"shape {tuple(labels.shape)}. Shift masks only for segmentation tasks (classification labels stay)."
        )
    chunk = max(1, SHIFT_CHUNK_BYTES // max(1, labels[0].numel() * 4 * 8))
    out = torch.empty_like(labels)
    for start in range(0, len(labels), chunk):
        x = labels[start : start + chunk].to(device)
        random = ShiftRandom.for_range(seed, start, start + len(x), device)
        for i, (step, state, apply_labels) in enumerate(zip(steps, states, moving, strict=True)):
            if apply_labels is not None:
                x = apply_labels(x, step.intensity, random.stream(i), state)
        out[start : start + len(x)] = x.to(out.device)
    return out


def shift_states(steps: tuple[ShiftStep, ...], registry: Registry, data: DataSource) -> list[Any]:
    """Run each shift's ``prepare`` once (e.g. Reinhard reference statistics); default state: the options."""
    ctx = ShiftContext(data_root=data.data_root, load_dataset=data.load)
    states = []
    for step in steps:
        shift = registry.shifts.get(step.name)
        options = {**shift.defaults, **step.options}
        states.append(shift.prepare(options, ctx) if shift.prepare else options)
    return states


def classes_of(spec: DatasetSpec, splits: DatasetSplits) -> tuple[str, ...]:
    return label_space(spec, splits)[0]


def _usable(splits: DatasetSplits, label: str, classes: tuple[str, ...], *, train: int, classify: bool) -> None:
    """After keeping only the shared classes, the splits must still hold something to train (on two classes) and
    to test on."""
    shared = f"the classes it shares with the other dataset ({', '.join(classes)})"
    if len(splits.train) < train or len(splits.test) == 0:
        raise DataError(
            f"dataset {label!r} keeps {len(splits.train)} train and {len(splits.test)} test samples of {shared}; a "
            f"run needs at least {train} train and 1 test sample. Pick datasets whose shared classes are present."
        )
    if classify and int(splits.train.labels.min()) == int(splits.train.labels.max()):
        raise DataError(
            f"dataset {label!r}: of {shared}, its train split holds only "
            f"{classes[int(splits.train.labels.min())]!r}; a classifier needs at least 2 classes to train on."
        )


def aligned_splits(spec: RunSpec, registry: Registry, data: DataSource) -> tuple[DatasetSplits, DatasetSplits, int]:
    """Source and target splits with one image shape (the source's, as loaded) and one label space."""
    source_spec: DatasetSpec = registry.datasets.get(spec.dataset.name)
    source = data.load(spec.dataset)
    source_names, num_classes = label_space(source_spec, source)
    if source_spec.task_type == "classification" and num_classes < 2:
        raise DataError(
            f"dataset {spec.dataset.label()!r} has a single class, so it cannot be the labelled source a classifier "
            "trains on; use it as unlabelled DA data (dann4: --da-dataset), or pick a source with 2 or more classes."
        )
    if spec.target is None:
        return source, source, num_classes
    target_spec: DatasetSpec = registry.datasets.get(spec.target.name)
    target = data.load(spec.target)
    target_names, target_classes = label_space(target_spec, target)
    segmentation = source_spec.task_type == "segmentation"
    shape: tuple[int, int, int] = tuple(source.train.images.shape[1:])  # type: ignore[assignment]
    if source_names and target_names and source_names != target_names:
        keep = alignment.shared_classes(source_names, target_names)
        if len(keep) < 2 and not segmentation and num_classes >= 2:
            raise DataError(
                f"{spec.dataset.label()} and {spec.target.label()} share only the class {keep[0]!r} (of "
                f"{', '.join(source_names)} and {', '.join(target_names)}); a classifier needs at least 2 shared "
                "classes."
            )
        source = alignment.restrict_splits(source, source_names, keep)
        target = alignment.restrict_splits(target, target_names, keep)
        _usable(source, spec.dataset.label(), tuple(keep), train=MIN_TRAIN, classify=not segmentation)
        _usable(target, spec.target.label(), tuple(keep), train=1, classify=False)
        num_classes = len(keep)
    elif target_classes != num_classes:
        raise DataError(
            f"{spec.dataset.label()} has {num_classes} classes and {spec.target.label()} {target_classes}; "
            "declare class_names on both datasets so dabench can align their label spaces."
        )
    target = DatasetSplits(
        train=alignment.harmonize_split(target.train, shape, segmentation),
        test=alignment.harmonize_split(target.test, shape, segmentation),
        source=source_of(target_spec, target, data.data_root),
    )
    return source, target, num_classes
