"""The public contract kit for plugin authors: ``check_method``, ``check_dataset``, ``check_shift``,
``check_metric`` and ``check_validator`` raise ``AssertionError`` with a precise message when a component breaks
dabench's contract. dabench runs them over every registered component in ``tests/contract``; call them from your
plugin's own tests::

    from dabench.testing import check_method
    def test_contract():
        check_method(my_plugin.METHOD_SPEC)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dabench.data import AdaptationTask, DatasetSplits, LabeledSplit, UnlabeledSplit
from dabench.seeding import Seeds
from dabench.shiftrandom import ShiftRandom
from dabench.specs import DatasetSpec, LoadContext, MethodSpec, MetricSpec, ShiftContext, ShiftSpec, ValidatorSpec

#: parameters that shrink any built-in style method to a seconds-long fit
FAST_PARAMS: Mapping[str, Any] = {"epochs": 1, "batch_size": 32, "width": 8, "hidden": 16}


def toy_task(
    *,
    seed: int = 0,
    n: int = 96,
    num_classes: int = 3,
    shape: tuple[int, int, int] = (1, 12, 12),
    task_type: str = "classification",
) -> AdaptationTask:
    """A tiny, learnable task: class = which third of the image is bright; the target domain is brighter."""
    import torch

    g = torch.Generator().manual_seed(seed)
    channels, h, w = shape

    def make(offset: float) -> tuple[Any, Any]:
        labels = torch.arange(n) % num_classes
        images = torch.rand((n, channels, h, w), generator=g) * 0.3 + offset
        band = w // num_classes
        for c in range(num_classes):
            images[labels == c, :, :, c * band : (c + 1) * band] += 0.5
        if task_type == "segmentation":
            masks = (images[:, 0] > 0.5 + offset).long()
            return images.clamp(0, 1), masks
        return images.clamp(0, 1), labels

    xs, ys = make(0.0)
    xt, _ = make(0.2)
    classes = 2 if task_type == "segmentation" else num_classes
    return AdaptationTask(
        source=LabeledSplit(images=xs, labels=ys),
        unlabeled={"target": UnlabeledSplit(images=xt)},
        num_classes=classes,
        input_shape=shape,
        task_type=task_type,  # type: ignore[arg-type]
    )


def check_method(
    spec: MethodSpec, *, params: Mapping[str, Any] | None = None, task: AdaptationTask | None = None
) -> None:
    """Fits on a toy task: output shape, determinism for a seed, inputs not mutated, finite logits."""
    import torch

    assert isinstance(spec, MethodSpec), f"expected a MethodSpec, got {type(spec).__name__}"
    assert spec.paper.title and spec.paper.year, f"method {spec.name!r} must cite its paper (title and year)"
    merged = {**spec.defaults, **{k: v for k, v in FAST_PARAMS.items() if k in spec.defaults}, **(params or {})}
    for task_type in spec.task_types:
        toy = task or toy_task(task_type=task_type)
        before = [
            toy.source.images.clone(),
            toy.source.labels.clone(),
            *(s.images.clone() for s in toy.unlabeled.values()),
        ]
        device = torch.device("cpu")
        outputs = []
        for _ in range(2):
            predictor = spec.build(merged).fit(toy, seeds=Seeds(7).child("method"), device=device)
            outputs.append(predictor.predict(toy.unlabeled["target"].images))
        n = len(toy.unlabeled["target"])
        expected = (n, toy.num_classes) if task_type == "classification" else (n, toy.num_classes, *toy.input_shape[1:])
        assert tuple(outputs[0].shape) == expected, f"{spec.name}: logits shape {tuple(outputs[0].shape)} != {expected}"
        assert torch.isfinite(outputs[0]).all(), f"{spec.name}: non-finite logits"
        assert torch.equal(outputs[0], outputs[1]), (
            f"{spec.name}: two fits with the same seeds differ (not deterministic)"
        )
        after = [toy.source.images, toy.source.labels, *(s.images for s in toy.unlabeled.values())]
        for a, b in zip(before, after, strict=True):
            assert torch.equal(a, b), f"{spec.name}: fit() mutated its input task"


def check_dataset(spec: DatasetSpec, root: Path | None = None, *, domain: str | None = None) -> DatasetSplits:
    """Loads the dataset: uint8 NCHW images (matching ``input_shape`` for the default domain of a classification
    dataset), int64 labels within ``[0, num_classes)``, and the same split for the same seed."""
    import torch

    assert isinstance(spec, DatasetSpec), f"expected a DatasetSpec, got {type(spec).__name__}"
    splits = spec.load(LoadContext(root=root, rng=np.random.default_rng(0), domain=domain))
    again = spec.load(LoadContext(root=root, rng=np.random.default_rng(0), domain=domain))
    for name in ("train", "test"):
        split: LabeledSplit = getattr(splits, name)
        assert split.images.dtype == torch.uint8, f"{spec.name}.{name}: images must be uint8, got {split.images.dtype}"
        assert split.images.ndim == 4 and len(split) > 0, f"{spec.name}.{name}: images must be non-empty [N, C, H, W]"
        assert split.labels.dtype == torch.int64, f"{spec.name}.{name}: labels must be int64"
        if spec.task_type == "classification" and domain is None:
            assert tuple(split.images.shape[1:]) == spec.input_shape, (
                f"{spec.name}.{name}: image shape {tuple(split.images.shape[1:])} != input_shape {spec.input_shape}"
            )
        else:  # a domain may select another resolution (pbc:64) or size option
            assert split.images.shape[1] in (1, 3), f"{spec.name}.{name}: images must have 1 or 3 channels"
        assert int(split.labels.min()) >= 0 and int(split.labels.max()) < spec.num_classes, (
            f"{spec.name}.{name}: labels outside [0, {spec.num_classes})"
        )
        assert torch.equal(split.labels, getattr(again, name).labels), f"{spec.name}: same rng gave different splits"
    return splits


def _no_dataset(name: str) -> DatasetSplits:
    raise AssertionError(f"check_shift: the shift asked for dataset {name!r}; pass a ShiftContext to check it")


def check_shift(
    spec: ShiftSpec, *, channels: int = 3, ctx: ShiftContext | None = None, options: Mapping[str, Any] | None = None
) -> None:
    """Intensity 0 is the identity; output is float in [0, 1] with the input's shape; per-sample determinism
    whatever the batch; the input is not mutated."""
    import torch

    assert isinstance(spec, ShiftSpec), f"expected a ShiftSpec, got {type(spec).__name__}"
    context = ctx or ShiftContext(data_root=None, load_dataset=_no_dataset)
    merged = {**spec.defaults, **(options or {})}
    state = spec.prepare(merged, context) if spec.prepare else merged
    images = torch.rand((6, channels, 16, 16), generator=torch.Generator().manual_seed(0))
    original = images.clone()
    lo, hi = spec.intensity_range
    if lo <= 0 <= hi:
        same = spec.apply(images.clone(), 0.0, ShiftRandom.for_range(1, 0, 6), state)
        assert torch.allclose(same, images, atol=1e-6), f"{spec.name}: intensity 0 is not the identity"
    level = float(int(hi)) if spec.integer_intensity else hi
    level = min(level, lo + (hi - lo) / 2) if hi > 4 * max(lo, 1) and not spec.integer_intensity else level
    full = spec.apply(images, level, ShiftRandom.for_range(1, 0, 6), state)
    assert torch.equal(images, original), f"{spec.name}: apply() mutated its input"
    assert full.shape == images.shape and full.dtype == torch.float32, f"{spec.name}: shape/dtype changed"
    assert float(full.min()) >= -1e-6 and float(full.max()) <= 1 + 1e-6, f"{spec.name}: output outside [0, 1]"
    part = spec.apply(images[3:].clone(), level, ShiftRandom.for_range(1, 3, 6), state)
    assert torch.allclose(part, full[3:], atol=1e-5), f"{spec.name}: a sample's shift depends on its batch"


def check_metric(spec: MetricSpec) -> None:
    """Bounds hold on random inputs, perfect predictions score the best bound, and direction is consistent."""
    assert isinstance(spec, MetricSpec), f"expected a MetricSpec, got {type(spec).__name__}"
    rng = np.random.default_rng(0)
    c = 3
    if spec.task_type == "classification":
        y = np.arange(60) % c
        perfect = np.eye(c)[y] * 0.9 + 0.1 / c
        random_scores = rng.dirichlet(np.ones(c), size=60)
    else:
        y = rng.integers(0, c, size=(4, 8, 8))
        perfect = np.moveaxis(np.eye(c)[y], -1, 1) * 0.9 + 0.1 / c
        random_scores = np.moveaxis(rng.dirichlet(np.ones(c), size=(4, 8, 8)), -1, 1)
    best, chance = spec.fn(y, perfect), spec.fn(y, random_scores)
    lo, hi = spec.bounds
    for value in (best, chance):
        assert lo - 1e-9 <= value <= hi + 1e-9, f"{spec.name}: value {value} outside bounds {spec.bounds}"
    target = hi if spec.higher_is_better else lo
    assert abs(best - target) < 1e-9, f"{spec.name}: perfect predictions give {best}, expected {target}"
    assert (best >= chance) if spec.higher_is_better else (best <= chance), f"{spec.name}: direction inconsistent"
    assert spec.fn(y, random_scores) == chance, f"{spec.name}: not deterministic"


def check_validator(spec: ValidatorSpec) -> None:
    """Returns a finite float on random softmax outputs (and features when it needs them), deterministically."""
    assert isinstance(spec, ValidatorSpec), f"expected a ValidatorSpec, got {type(spec).__name__}"
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    features = rng.normal(size=(50, 8)) if spec.needs_features else None
    value = spec.fn(probs, features)
    assert np.isfinite(value), f"{spec.name}: returned {value}"
    assert spec.fn(probs, features) == value, f"{spec.name}: not deterministic"
