"""``mlan`` training: the staged schedule (G frozen while the discriminators train), SDA reads the target masks and UDA
has none, a checkpoint per adversarial epoch, the divergence guard (32 px toy tasks, 1 epoch per stage)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import dabench_mlan.method as method
from dabench import AdaptationTask, LabeledSplit, RunDiverged, Seeds, testing
from dabench.nn.checkpoints import collecting
from dabench_mlan import DEFAULTS
from dabench_mlan.method import MLAN, Batch, Networks

CPU = torch.device("cpu")
FAST = {**DEFAULTS, "g_epochs": 1, "d_epochs": 1, "adv_epochs": 1, "batch_size": 4, "encoder": "resnet18"}


def _task(n: int = 4, *, supervised: bool = False, seed: int = 0) -> AdaptationTask:
    if supervised:
        return testing.supervised_segmentation_task(n=n, seed=seed)
    return testing.toy_task(n=n, shape=(1, 32, 32), task_type="segmentation", seed=seed)


# ---------------------------------------------------------------------------------------- schedule, SDA/UDA


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Batch, Networks]]:
    """Wrap the three step functions so that every call is recorded as (kind, batch, networks)."""
    calls: list[tuple[str, Batch, Networks]] = []

    def wrap(kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(nets: Networks, optimizer: Any, batch: Batch, device: torch.device) -> Any:
            calls.append((kind, batch, nets))
            return fn(nets, optimizer, batch, device)

        return wrapped

    for kind, name in (("g", "generator_step"), ("d", "discriminator_step"), ("adv", "adversarial_step")):
        monkeypatch.setattr(method, name, wrap(kind, getattr(method, name)))
    return calls


def test_stages_in_order_and_g_frozen_while_discriminators_train(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots: list[dict[str, torch.Tensor]] = []
    inner = method.discriminator_step

    def watched(nets: Networks, optimizer: Any, batch: Batch, device: torch.device) -> Any:
        before = {k: v.clone() for k, v in nets.generator.named_parameters()}
        d_before = [p.clone() for p in nets.discriminators.parameters()]
        out = inner(nets, optimizer, batch, device)
        assert all(torch.equal(v, before[k]) for k, v in nets.generator.named_parameters())
        assert any(not torch.equal(a, b) for a, b in zip(d_before, nets.discriminators.parameters(), strict=True))
        snapshots.append(before)
        return out

    monkeypatch.setattr(method, "discriminator_step", watched)
    calls = _recording(monkeypatch)
    MLAN({**FAST, "discriminators": "e"}).fit(_task(8), seeds=Seeds(0), device=CPU)
    assert [kind for kind, _, _ in calls] == ["g", "g", "d", "d", "adv", "adv"]  # 8 images, batch 4: 2 per epoch
    assert len(snapshots) == 2

    calls.clear()
    MLAN({**FAST, "discriminators": "none"}).fit(_task(8), seeds=Seeds(0), device=CPU)
    assert [kind for kind, _, _ in calls] == ["g"] * 4  # Origin: g_epochs + adv_epochs of G steps


def test_sda_trains_on_target_masks_uda_never_has_them(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _recording(monkeypatch)
    MLAN({**FAST, "discriminators": "s"}).fit(_task(), seeds=Seeds(0), device=CPU)
    assert calls and all(batch.yt is None for _, batch, _ in calls)  # UDA: target images only
    calls.clear()
    sda = _task(supervised=True)
    MLAN({**FAST, "discriminators": "s"}).fit(sda, seeds=Seeds(0), device=CPU)
    assert calls and all(batch.yt is not None for _, batch, _ in calls)
    target_images = sda.target_labeled.images if sda.target_labeled is not None else None
    assert target_images is not None
    _, first, _ = calls[0]
    assert any(torch.equal(first.xt[0], img) for img in target_images)


def test_supervised_fit_depends_on_the_target_masks() -> None:
    a = MLAN({**FAST, "discriminators": "none"}).fit(_task(supervised=True, seed=0), seeds=Seeds(0), device=CPU)
    task = _task(supervised=True, seed=0)
    assert task.target_labeled is not None
    flipped = AdaptationTask(
        source=task.source,
        unlabeled=task.unlabeled,
        num_classes=2,
        input_shape=task.input_shape,
        task_type="segmentation",
        target_labeled=LabeledSplit(images=task.target_labeled.images, labels=1 - task.target_labeled.labels),
    )
    b = MLAN({**FAST, "discriminators": "none"}).fit(flipped, seeds=Seeds(0), device=CPU)
    x = task.source.images
    assert not torch.equal(a.predict(x), b.predict(x))


# -------------------------------------------------------------------------------- checkpoints and divergence


@pytest.mark.parametrize(("variant", "epochs"), [("sf9", [3, 4]), ("none", [2, 3])])
def test_a_checkpoint_per_adversarial_epoch(variant: str, epochs: list[int]) -> None:
    task = _task()
    with collecting(1) as collector:
        MLAN({**FAST, "discriminators": variant, "adv_epochs": 2}).fit(task, seeds=Seeds(0), device=CPU)
    assert [c.epoch for c in collector.items] == epochs
    out = collector.items[-1].predictor.predict(task.unlabeled["target"].images)
    assert out.shape == (4, 2, 32, 32) and torch.isfinite(out).all()


def test_divergence_is_recorded_as_such() -> None:
    with pytest.raises(RunDiverged):
        MLAN({**FAST, "discriminators": "e", "lr": 1e30}).fit(_task(), seeds=Seeds(0), device=CPU)
