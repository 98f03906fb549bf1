"""Geometric shifts move segmentation masks with their images (nearest-neighbour, same per-sample draws);
photometric shifts leave masks alone; the ``uda`` protocol and :class:`ProtocolContext` shift test masks."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from dabench.data import DatasetSplits, LabeledSplit
from dabench.errors import DataError
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.run import datasource
from dabench.run.datasource import DataSource, apply_label_shifts, apply_shifts, shift_states
from dabench.run.protocols import ProtocolContext, build_uda
from dabench.run.resolve import RunRequest, parse_shift_chain, resolve
from dabench.runspec import ShiftStep
from dabench.seeding import Seeds
from dabench.shiftrandom import ShiftRandom
from dabench.specs import DatasetSpec, LoadContext

CPU = torch.device("cpu")
SIZE = 64


def _smooth(n: int, seed: int = 0) -> torch.Tensor:
    """Float images ``[n, 1, 64, 64]`` in [0, 1]: a 4x4 random field, bicubically upsampled (smooth boundaries)."""
    coarse = torch.rand((n, 1, 4, 4), generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(SIZE, SIZE), mode="bicubic", align_corners=True).clamp(0.0, 1.0)


def _load(ctx: LoadContext) -> DatasetSplits:
    def split(n: int, seed: int) -> LabeledSplit:
        images = (_smooth(n, seed) * 255).round().to(torch.uint8)
        return LabeledSplit(images=images, labels=(images[:, 0] > 127).long())

    return DatasetSplits(train=split(8, 1), test=split(6, 2))


TINY_SEG = types.SimpleNamespace(
    register_datasets=hookimpl(
        lambda: [
            DatasetSpec(
                name="tiny_seg",
                load=_load,
                num_classes=2,
                input_shape=(1, SIZE, SIZE),
                task_type="segmentation",
                license="CC0-1.0",
                homepage="https://example.org",
                description="smooth random fields; mask = image > 0.5",
            )
        ]
    )
)
REGISTRY = build_registry([("tiny_seg", TINY_SEG)])


def _chain(text: str) -> tuple[tuple[ShiftStep, ...], list[object]]:
    steps = parse_shift_chain(REGISTRY, text)
    return steps, shift_states(steps, REGISTRY, DataSource(REGISTRY, None, Seeds(0)))


def _shift_both(text: str, images: torch.Tensor, masks: torch.Tensor, seed: int = 7) -> tuple[torch.Tensor, ...]:
    steps, states = _chain(text)
    return (
        apply_shifts(images, steps, REGISTRY, states, seed, CPU),
        apply_label_shifts(masks, steps, REGISTRY, states, seed, CPU),
    )


def _agreement(masks: torch.Tensor, images: torch.Tensor) -> float:
    return float((masks == (images[:, 0] > 0.5).long()).float().mean())


@pytest.mark.parametrize("text", ["random_resized_crop:0.5", "random_resized_crop:0.92,max_ratio=2"])
def test_crop_moves_the_mask_with_the_image(text: str) -> None:
    images = _smooth(16)
    masks = (images[:, 0] > 0.5).long()
    shifted, moved = _shift_both(text, images, masks)
    assert moved.dtype == torch.int64 and moved.shape == masks.shape
    assert _agreement(masks, shifted) < 0.9  # the crop really moved the content ...
    assert _agreement(moved, shifted) >= 0.98  # ... and the mask followed it, up to boundary pixels


def test_resolution_masks_are_nearest_neighbour() -> None:
    images = _smooth(8)
    masks = torch.randint(0, 3, (8, SIZE, SIZE), generator=torch.Generator().manual_seed(3)) * 2  # labels {0, 2, 4}
    _, moved = _shift_both("resolution:1", images, masks)
    assert moved.dtype == torch.int64 and set(moved.unique().tolist()) <= {0, 2, 4}  # no interpolated labels
    # factor 2: each 2x2 block takes the label at its centre (nearest-exact keeps pixel centres)
    expected = masks[:, 1::2, 1::2].repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    assert torch.equal(moved, expected)
    smooth_masks = (images[:, 0] > 0.5).long()
    shifted, moved = _shift_both("resolution:1", images, smooth_masks)
    assert _agreement(moved, shifted) >= 0.95
    for text in ("resolution:3.5", "resolution:2,upsample=nearest", "resolution:15"):
        _, moved = _shift_both(text, images, masks)
        assert moved.shape == masks.shape and set(moved.unique().tolist()) <= {0, 2, 4}, text


@pytest.mark.parametrize("text", ["brightness:0.3", "gamma:-1", "gaussian_noise:0.5", "brightness:0.2+gamma:1"])
def test_photometric_shifts_leave_masks_unchanged(text: str) -> None:
    images = _smooth(4)
    masks = (images[:, 0] > 0.5).long()
    shifted, moved = _shift_both(text, images, masks)
    assert not torch.equal(shifted, images)
    assert moved is masks


def test_a_chain_moves_masks_with_the_geometric_steps_draws() -> None:
    images = _smooth(6)
    masks = (images[:, 0] > 0.5).long()
    steps, states = _chain("brightness:0.1+random_resized_crop:0.6")
    moved = apply_label_shifts(masks, steps, REGISTRY, states, 11, CPU)
    crop = REGISTRY.shifts.get("random_resized_crop")
    assert crop.apply_labels is not None
    alone = crop.apply_labels(masks, 0.6, ShiftRandom.for_range(11, 0, 6).stream(1), states[1])
    assert torch.equal(moved, alone)  # step 1 of the chain draws from stream 1, as apply_shifts does


def test_per_sample_draws_do_not_depend_on_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    images = _smooth(10)
    masks = (images[:, 0] > 0.5).long()
    whole = _shift_both("random_resized_crop:0.5", images, masks)
    monkeypatch.setattr(datasource, "SHIFT_CHUNK_BYTES", 1)  # one sample per chunk, images and masks
    chunked = _shift_both("random_resized_crop:0.5", images, masks)
    assert torch.allclose(whole[0], chunked[0], atol=1e-6) and torch.equal(whole[1], chunked[1])


def test_classification_labels_are_not_masks() -> None:
    steps, states = _chain("random_resized_crop:0.5")
    with pytest.raises(DataError, match=r"int64 \[N, H, W\]"):
        apply_label_shifts(torch.arange(4), steps, REGISTRY, states, 0, CPU)
    photometric, photometric_states = _chain("brightness:0.2")
    labels = torch.arange(4)
    assert apply_label_shifts(labels, photometric, REGISTRY, photometric_states, 0, CPU) is labels


def _uda(text: str) -> tuple[LabeledSplit, LabeledSplit, ProtocolContext, tuple[ShiftStep, ...]]:
    spec = resolve(RunRequest(method="majority_class", dataset="tiny_seg", shift=text, n_bootstrap=0), REGISTRY)
    seeds = Seeds(spec.seed)
    data = DataSource(REGISTRY, None, seeds)
    _, domains = build_uda(spec, REGISTRY, data, seeds, CPU)
    raw = datasource.to_float(data.load("tiny_seg").test)
    return domains["target"](), raw, ProtocolContext(registry=REGISTRY, data=data, seeds=seeds, device=CPU), spec.shift


def test_uda_shifts_segmentation_test_masks() -> None:
    target, raw, ctx, steps = _uda("random_resized_crop:0.5")
    assert not torch.equal(target.labels, raw.labels)
    assert _agreement(target.labels, target.images) >= 0.98
    assert torch.equal(target.labels, ctx.shifted_labels(raw.labels, steps, "shift/test"))
    assert torch.equal(target.images, ctx.shifted(raw.images, steps, "shift/test"))
    photometric, raw, _, _ = _uda("brightness:0.3")
    assert torch.equal(photometric.labels, raw.labels)


def test_shift_grid_moves_masks() -> None:
    _, raw, ctx, steps = _uda("random_resized_crop:0.5")
    grid = ctx.shift_grid(raw, steps, (0.0, 0.7), "shift/grid")
    assert torch.equal(grid["test@0"]().labels, raw.labels)
    moved = grid["test@0.7"]()
    assert not torch.equal(moved.labels, raw.labels) and _agreement(moved.labels, moved.images) >= 0.98


def test_uda_classification_labels_are_untouched() -> None:
    spec = resolve(
        RunRequest(method="majority_class", dataset="synthetic", shift="random_resized_crop:0.5", n_bootstrap=0),
        REGISTRY,
    )
    seeds = Seeds(spec.seed)
    data = DataSource(REGISTRY, None, seeds)
    _, domains = build_uda(spec, REGISTRY, data, seeds, CPU)
    assert torch.equal(domains["target"]().labels, data.load("synthetic").test.labels)
