"""The public contract kit for plugin authors: each ``check_*`` raises ``AssertionError`` with a message saying what
broke and how to fix it. dabench runs them over every registered component in ``tests/contract``; call them from your
plugin's own tests (see ``docs/writing-a-plugin.md``)::

    from dabench import testing
    def test_contract():
        testing.check_method(my_plugin.METHOD_SPEC)

- ``check_method``: two fits on :func:`toy_task` (shrunk by :data:`FAST_PARAMS`) give logits of the right shape, finite
  and identical for the same seeds, and leave the task unmodified; it cites a paper.
- ``check_dataset``: uint8 ``[N, C, H, W]`` images (1 or 3 channels, the declared shape), int64 labels in the label
  space, non-empty splits with at least two classes, the same split for the same seed.
- ``check_shift``: at every intensity of :func:`shift_intensities` (both ends of ``intensity_range``, points between,
  integers for ``integer_intensity``): same shape and dtype, finite, in [0, 1], the same per sample whatever the batch
  split, input not mutated, no draw from the global torch / numpy / Python RNG; identity at 0 (or the low end).
- ``check_metric``: bounds, perfect predictions score the best bound, direction, determinism.
- ``check_validator``: a finite, deterministic score on random softmax outputs (and features).
- ``check_benefit_predictor``: on :func:`benefit_inputs`, finite outputs, a target score in [0, 1] when it estimates
  one, a shift score that grows as the target moves away, determinism, inputs unmodified, no global RNG.
"""

from __future__ import annotations

import math
import random as py_random
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from dabench.data import AdaptationTask, DatasetSplits, LabeledSplit, UnlabeledSplit
from dabench.seeding import Seeds
from dabench.shiftrandom import ShiftRandom
from dabench.specs import DatasetSpec, LoadContext, MethodSpec, MetricSpec, ShiftContext, ShiftSpec, ValidatorSpec

#: parameters that shrink any built-in style method to a seconds-long fit
FAST_PARAMS: Mapping[str, Any] = {
    "epochs": 1,
    "batch_size": 32,
    "width": 8,
    "hidden": 16,
    "depth": 2,
    # staged schedules (multi-level adversarial segmentation) and a cheaper encoder
    "g_epochs": 1,
    "d_epochs": 1,
    "adv_epochs": 1,
    "encoder": "resnet18",
    # GAN-based pixel-level adaptation (StarGAN)
    "cls_epochs": 1,
    "finetune_epochs": 1,
    "gan_iters": 2,
    "gan_batch": 8,
    "n_critic": 2,
    "g_width": 4,
    "g_res_blocks": 1,
    "d_width": 4,
}
"""Small values for :func:`check_method`'s two fits, applied to the parameters a method declares (others ignored)."""


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


def supervised_segmentation_task(*, n: int = 4, size: int = 32, seed: int = 0) -> AdaptationTask:
    """:func:`toy_task` for segmentation (one channel, ``size`` px) with labelled target images
    (``target_labeled``: the target images with seeded random masks), as a supervised-DA protocol hands them over."""
    import torch

    toy = toy_task(n=n, shape=(1, size, size), task_type="segmentation", seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    masks = torch.randint(0, 2, (n, size, size), generator=g)
    return replace(toy, target_labeled=LabeledSplit(images=toy.unlabeled["target"].images, labels=masks))


def check_method(
    spec: MethodSpec, *, params: Mapping[str, Any] | None = None, task: AdaptationTask | None = None
) -> None:
    """Fits on a toy task: output shape, determinism for a seed, inputs not mutated, finite logits."""
    import torch

    assert isinstance(spec, MethodSpec), f"expected a MethodSpec, got {type(spec).__name__}"
    assert spec.paper.title and spec.paper.year, f"method {spec.name!r} must cite its paper (title and year)"
    for task_type in spec.task_types:
        defaults = spec.defaults_for(task_type)
        merged = {**defaults, **{k: v for k, v in FAST_PARAMS.items() if k in defaults}, **(params or {})}
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
    """Loads the dataset: uint8 NCHW images, int64 labels, the same split for the same seed, and every check a run
    applies to a load (:func:`dabench.run.validation.validate_splits`: the declared shape —
    ``DatasetSplits.input_shape``
    or the spec's —, labels within the loaded label space, non-empty splits, at least two classes)."""
    import torch

    from dabench.errors import DataError
    from dabench.run.validation import validate_splits

    assert isinstance(spec, DatasetSpec), f"expected a DatasetSpec, got {type(spec).__name__}"
    label = f"{spec.name}:{domain}" if domain else spec.name
    splits = spec.load(LoadContext(root=root, rng=np.random.default_rng(0), domain=domain))
    again = spec.load(LoadContext(root=root, rng=np.random.default_rng(0), domain=domain))
    assert isinstance(splits, DatasetSplits), f"{label}: load() returned {type(splits).__name__}, not DatasetSplits"
    for name in ("train", "test"):
        split: LabeledSplit = getattr(splits, name)
        assert split.images.dtype == torch.uint8, f"{label}.{name}: images must be uint8, got {split.images.dtype}"
        assert split.images.ndim == 4 and len(split) > 0, f"{label}.{name}: images must be non-empty [N, C, H, W]"
        assert split.images.shape[1] in (1, 3), f"{label}.{name}: images must have 1 or 3 channels"
        assert split.labels.dtype == torch.int64, f"{label}.{name}: labels must be int64"
        assert torch.equal(split.labels, getattr(again, name).labels), f"{label}: same rng gave different splits"
    try:
        validate_splits(spec, splits, label=label, root=root)
    except DataError as exc:
        raise AssertionError(f"{label}: {exc}") from exc
    return splits


def _no_dataset(name: str) -> DatasetSplits:
    raise AssertionError(f"check_shift: the shift asked for dataset {name!r}; pass a ShiftContext to check it")


def shift_intensities(spec: ShiftSpec, points: int = 5) -> list[float]:
    """The intensities :func:`check_shift` tries: the identity point (0, or the low end when 0 is out of range),
    both ends of ``intensity_range`` and evenly spaced points between — integers, including both ends' neighbours,
    for an ``integer_intensity`` shift."""
    lo, hi = spec.intensity_range
    values = {lo + (hi - lo) * k / (points - 1) for k in range(points)}
    if spec.integer_intensity:
        first, last = math.ceil(lo), math.floor(hi)
        assert first <= last, f"{spec.name}: integer_intensity but no integer in intensity_range {spec.intensity_range}"
        ends = {first, min(first + 1, last), max(last - 1, first), last}
        values = {float(min(max(round(v), first), last)) for v in values} | {float(v) for v in ends}
    values.add(0.0 if lo <= 0 <= hi else float(min(values)))
    return sorted(values)


def _global_rng_state() -> tuple[Any, Any, Any]:
    import torch

    return torch.get_rng_state(), np.random.get_state(), py_random.getstate()


def _used_global_rng(before: tuple[Any, Any, Any]) -> list[str]:
    """Names of the global generators whose state differs from ``before`` (and put every one back)."""
    import torch

    torch_state, numpy_state, python_state = _global_rng_state()
    changed = []
    if not torch.equal(torch_state, before[0]):
        changed.append("torch (torch.rand, torch.randn, torch.randint, ... without generator=)")
    name, keys, *rest = numpy_state
    if name != before[1][0] or not np.array_equal(keys, before[1][1]) or tuple(rest) != tuple(before[1][2:]):
        changed.append("numpy (np.random.*)")
    if python_state != before[2]:
        changed.append("Python (random.*)")
    torch.set_rng_state(before[0])
    np.random.set_state(before[1])
    py_random.setstate(before[2])
    return changed


def _check_images(spec: ShiftSpec, level: float, out: Any, images: Any) -> None:
    import torch

    where = f"{spec.name} at intensity {level:g}"
    assert isinstance(out, torch.Tensor), f"{where}: apply() returned {type(out).__name__}, not a tensor"
    assert tuple(out.shape) == tuple(images.shape), (
        f"{where}: output shape {tuple(out.shape)} != input shape {tuple(images.shape)}; a shift keeps [N, C, H, W]"
    )
    assert out.dtype == images.dtype, f"{where}: output dtype {out.dtype} != input dtype {images.dtype}"
    assert bool(torch.isfinite(out).all()), f"{where}: non-finite output (NaN or inf)"
    low, high = float(out.min()), float(out.max())
    assert low >= -1e-6 and high <= 1 + 1e-6, f"{where}: output in [{low:g}, {high:g}], outside [0, 1]; clamp it"


def check_shift(
    spec: ShiftSpec, *, channels: int = 3, ctx: ShiftContext | None = None, options: Mapping[str, Any] | None = None
) -> None:
    """At every intensity of :func:`shift_intensities`: float output of the input's shape and dtype in [0, 1], the
    same result twice and whatever the batch split, the input not mutated, no draw from the global torch / numpy /
    Python RNG (use the ``random`` argument); the identity at intensity 0 (or the range's low end)."""
    import torch

    assert isinstance(spec, ShiftSpec), f"expected a ShiftSpec, got {type(spec).__name__}"
    for key, value in spec.defaults.items():
        assert isinstance(value, str | int | float | bool), (
            f"{spec.name}: option {key!r} defaults to a {type(value).__name__}; options are JSON scalars"
        )
    context = ctx or ShiftContext(data_root=None, load_dataset=_no_dataset)
    merged = {**spec.defaults, **(options or {})}
    state = spec.prepare(merged, context) if spec.prepare else merged
    n, split, seed = 5, 2, 11
    images = torch.rand((n, channels, 16, 16), generator=torch.Generator().manual_seed(0))
    images[:, :, 0, :4], images[:, :, -1, -4:] = 0.0, 1.0  # saturated pixels, as in real images
    original = images.clone()
    lo, hi = spec.intensity_range
    identity = 0.0 if lo <= 0 <= hi else lo
    for level in shift_intensities(spec):
        where = f"{spec.name} at intensity {level:g}"
        before = _global_rng_state()
        out = spec.apply(images, level, ShiftRandom.for_range(seed, 0, n), state)
        changed = _used_global_rng(before)
        assert not changed, (
            f"{where}: apply() drew from the global {' and '.join(changed)} RNG; draw every random number from the "
            "`random` argument (random.uniform/normal/integers, random.stream(label) for independent draws)"
        )
        assert torch.equal(images, original), f"{where}: apply() mutated its input"
        _check_images(spec, level, out, images)
        again = spec.apply(images.clone(), level, ShiftRandom.for_range(seed, 0, n), state)
        assert torch.allclose(again, out, atol=1e-6), f"{where}: two calls with the same random differ"
        parts = [
            spec.apply(images[:split].clone(), level, ShiftRandom.for_range(seed, 0, split), state),
            spec.apply(images[split:].clone(), level, ShiftRandom.for_range(seed, split, n), state),
        ]
        assert torch.allclose(torch.cat(parts), out, atol=1e-5), (
            f"{where}: a sample's shift depends on its batch; draw per-sample numbers from `random` (which follows "
            "the sample ids), not from batch positions or batch statistics"
        )
        if level == identity:
            assert torch.allclose(out, images, atol=1e-6), f"{where}: intensity {identity:g} is not the identity"
        if spec.apply_labels is not None:
            _check_label_shift(spec, level, state, seed)


def _check_label_shift(spec: ShiftSpec, level: float, state: Any, seed: int) -> None:
    """``apply_labels``: int64 masks of the input's shape with no new labels, the same whatever the batch split, the
    input not mutated; the identity at intensity 0."""
    import torch

    assert spec.apply_labels is not None
    where = f"{spec.name} at intensity {level:g} (apply_labels)"
    n, split = 5, 2
    masks = torch.randint(0, 3, (n, 16, 16), generator=torch.Generator().manual_seed(1))
    original = masks.clone()
    out = spec.apply_labels(masks, level, ShiftRandom.for_range(seed, 0, n), state)
    assert torch.equal(masks, original), f"{where}: mutated its input"
    assert out.dtype == torch.int64 and out.shape == masks.shape, f"{where}: gave {out.dtype} {tuple(out.shape)}"
    assert set(out.unique().tolist()) <= set(masks.unique().tolist()), f"{where}: made labels the masks do not have"
    parts = [
        spec.apply_labels(masks[:split].clone(), level, ShiftRandom.for_range(seed, 0, split), state),
        spec.apply_labels(masks[split:].clone(), level, ShiftRandom.for_range(seed, split, n), state),
    ]
    assert torch.equal(torch.cat(parts), out), f"{where}: a mask's shift depends on its batch"
    if level == 0:
        assert torch.equal(out, masks), f"{where}: intensity 0 is not the identity"


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
    assert spec.fn(y, random_scores) == chance, f"{spec.name}: not deterministic"
    if spec.diagnostic:  # a descriptive quantity: no best value, no direction
        return
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


def benefit_inputs(task_type: str = "classification", *, shift: float = 0.0, n: int = 300, seed: int = 0) -> Any:
    """Synthetic :class:`~dabench.BenefitInputs`: a 4-class model that is right 90 % of the time on the source; on
    the target its features move by ``shift`` and its confidence and accuracy fall with it (``shift`` = 0: the target
    is the source's distribution). With a peer model. Segmentation: 8×8 masks, the same per pixel."""
    from dabench.benefitspecs import BenefitInputs, PeerOutputs, SourceOutputs, TargetOutputs

    rng = np.random.default_rng(seed)
    classes, shape = 4, ((n,) if task_type == "classification" else (n // 10, 8, 8))

    def side(offset: float, error: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        labels = rng.integers(0, classes, size=shape)
        wrong = rng.random(shape) < error
        predicted = np.where(wrong, (labels + rng.integers(1, classes, size=shape)) % classes, labels)
        logits = rng.normal(0, 1, size=(*shape, classes)) + 4.0 * (1 - offset) * np.eye(classes)[predicted]
        logits = np.moveaxis(logits, -1, 1)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        features = rng.normal(offset, 1, size=(shape[0], 16))
        images = np.clip(rng.normal(0.4 + 0.3 * offset, 0.1 + 0.1 * offset, size=(shape[0], 1, 8, 8)), 0, 1)
        images = images.astype(np.float32)
        return labels, logits, probs, features, images

    y, logits, probs, features, images = side(0.0, 0.1)
    source = SourceOutputs(probs=probs, logits=logits, features=features, images=images, labels=y)
    _, t_logits, t_probs, t_features, t_images = side(shift, min(0.1 + shift, 0.7))
    target = TargetOutputs(probs=t_probs, logits=t_logits, features=t_features, images=t_images)
    peer = PeerOutputs(source_probs=side(0.0, 0.1)[2], target_probs=side(shift, min(0.1 + shift, 0.7))[2])
    for array in (probs, logits, features, images, y, t_probs, t_logits, t_features, t_images):
        array.setflags(write=False)  # a predictor must not modify its inputs
    score = float(np.mean(probs.argmax(axis=1) == y))
    return BenefitInputs(
        task_type=task_type,  # type: ignore[arg-type]
        num_classes=classes,
        source=source,
        target=target,
        metric="accuracy" if task_type == "classification" else "pixel_accuracy",
        source_score=score,
        seed=seed,
        peer=peer,
    )


def check_benefit_predictor(spec: Any) -> None:
    """On :func:`benefit_inputs` of each of its task types: a :class:`~dabench.BenefitOutput` with finite values, a
    ``target_score`` in [0, 1] when it estimates one (``estimates``), a ``shift_score`` that does not fall when the
    target moves away (larger = farther from the source), the same output for the same inputs and seed, inputs left
    unmodified, no draw from the global RNGs; it cites a paper."""
    from dabench.benefitspecs import BenefitOutput, BenefitPredictorSpec

    assert isinstance(spec, BenefitPredictorSpec), f"expected a BenefitPredictorSpec, got {type(spec).__name__}"
    for task_type in spec.task_types:
        where = f"benefit predictor {spec.name} ({task_type})"
        before = _global_rng_state()
        near, far = benefit_inputs(task_type, shift=0.0), benefit_inputs(task_type, shift=0.6)
        try:
            out_near, out_far = spec.fn(near), spec.fn(far)
        except ValueError as exc:
            raise AssertionError(f"{where}: failed ({exc}); write to copies, never to the inputs") from exc
        used = _used_global_rng(before)
        assert not used, (
            f"{where}: drew from the global RNG(s) {', '.join(used)}; use np.random.default_rng(inputs.seed)"
        )
        for out in (out_near, out_far):
            assert isinstance(out, BenefitOutput), f"{where}: fn returned {type(out).__name__}, not a BenefitOutput"
            assert out.as_dict(), f"{where}: no finite target_score or shift_score"
            if spec.estimates:
                assert out.target_score is not None and 0.0 <= out.target_score <= 1.0, (
                    f"{where}: estimates {spec.estimates!r} but target_score is {out.target_score}; give it in [0, 1]"
                )
        if out_near.shift_score is not None and out_far.shift_score is not None:
            assert out_far.shift_score >= out_near.shift_score - 1e-9, (
                f"{where}: shift_score falls from {out_near.shift_score:g} to {out_far.shift_score:g} as the target "
                "moves away; orient it so that larger means farther from the source"
            )
        assert spec.fn(near) == out_near, f"{where}: not deterministic for the same inputs and seed"
