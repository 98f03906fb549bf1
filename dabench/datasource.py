"""Where a run's data comes from: datasets loaded (and cached per run) from the data root, converted to float,
shifted in chunks with per-sample randomness, and aligned across datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dabench import alignment
from dabench.data import DatasetSplits, LabeledSplit
from dabench.errors import DataError
from dabench.registry import Registry
from dabench.seeding import Seeds
from dabench.shiftrandom import ShiftRandom
from dabench.specs import ComponentRef, DatasetSpec, LoadContext, RunSpec, ShiftContext, ShiftStep

SHIFT_CHUNK_BYTES = 24 * 2**20  # keep temporaries under glibc's 32 MiB mmap threshold (DESIGN §7)


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
            self._cache[text] = spec.load(ctx)
        return self._cache[text]


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
    return splits.class_names or spec.class_names


def aligned_splits(spec: RunSpec, registry: Registry, data: DataSource) -> tuple[DatasetSplits, DatasetSplits, int]:
    """Source and target splits with one image shape (the source's, as loaded) and one label space."""
    source_spec: DatasetSpec = registry.datasets.get(spec.dataset.name)
    source = data.load(spec.dataset)
    source_names = classes_of(source_spec, source)
    num_classes = len(source_names) or source_spec.num_classes
    if spec.target is None:
        return source, source, num_classes
    target_spec: DatasetSpec = registry.datasets.get(spec.target.name)
    target = data.load(spec.target)
    target_names = classes_of(target_spec, target)
    segmentation = source_spec.task_type == "segmentation"
    shape: tuple[int, int, int] = tuple(source.train.images.shape[1:])  # type: ignore[assignment]
    if source_names and target_names and source_names != target_names:
        keep = alignment.shared_classes(source_names, target_names)
        source = alignment.restrict_splits(source, source_names, keep)
        target = alignment.restrict_splits(target, target_names, keep)
        num_classes = len(keep)
    elif (len(target_names) or target_spec.num_classes) != num_classes:
        raise DataError(
            f"{spec.dataset.label()} has {num_classes} classes and {spec.target.label()} {target_spec.num_classes}; "
            "declare class_names on both datasets so dabench can align their label spaces."
        )
    target = DatasetSplits(
        train=alignment.harmonize_split(target.train, shape, segmentation),
        test=alignment.harmonize_split(target.test, shape, segmentation),
    )
    return source, target, num_classes
