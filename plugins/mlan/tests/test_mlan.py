"""``mlan``: the method contract, the signs of the minimax, the staged schedule, SDA vs UDA, checkpoints and the
divergence guard (32 px toy tasks, 1 epoch per stage)."""

from __future__ import annotations

import pytest
import torch

import dabench_mlan.method as method
from dabench import AdaptationTask, Seeds, SpecError, testing
from dabench_mlan import DEFAULTS, register_methods
from dabench_mlan.method import (
    Batch,
    Networks,
    build_networks,
    discriminator_losses,
    generator_loss,
    segmentation_loss,
)

SPEC = next(iter(register_methods()))
CPU = torch.device("cpu")
FAST = {**DEFAULTS, "g_epochs": 1, "d_epochs": 1, "adv_epochs": 1, "batch_size": 4, "encoder": "resnet18"}


def _task(n: int = 4, *, supervised: bool = False, seed: int = 0) -> AdaptationTask:
    if supervised:
        return testing.supervised_segmentation_task(n=n, seed=seed)
    return testing.toy_task(n=n, shape=(1, 32, 32), task_type="segmentation", seed=seed)


@pytest.mark.parametrize(("variant", "encoder"), [("none", "resnet34"), ("sed", "resnet18"), ("afc", "resnet18")])
def test_contract(variant: str, encoder: str) -> None:
    assert SPEC.name == "mlan" and SPEC.paper.year == 2020 and "Multi-level adversarial" in SPEC.paper.title
    assert SPEC.task_types == ("segmentation",)
    testing.check_method(SPEC, params={**FAST, "discriminators": variant, "encoder": encoder}, task=_task())


def test_user_mistakes_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="discriminators='sd' is not valid: use one of none, s, e, d, ed, sed"):
        SPEC.build({**FAST, "discriminators": "sd"})
    with pytest.raises(SpecError, match=r"weights='nowhere\.pt': no such file"):
        SPEC.build({**FAST, "weights": "nowhere.pt"})
    with pytest.raises(SpecError, match="encoder='vgg' is not valid"):
        SPEC.build({**FAST, "encoder": "vgg"})
    with pytest.raises(SpecError, match="nothing to train"):
        SPEC.build({**FAST, "g_epochs": 0, "d_epochs": 0, "adv_epochs": 0})
    toy = _task()
    three = AdaptationTask(
        source=toy.source, unlabeled=toy.unlabeled, num_classes=3, input_shape=toy.input_shape, task_type="segmentation"
    )
    with pytest.raises(SpecError, match="foreground protocol"):
        SPEC.build(FAST).fit(three, seeds=Seeds(0), device=CPU)
    with pytest.raises(SpecError, match="segmentation method"):
        SPEC.build(FAST).fit(testing.toy_task(), seeds=Seeds(0), device=CPU)


# ---------------------------------------------------------------------------------------------- the minimax


def _setup(variant: str, alpha: float, *, supervised: bool = False) -> tuple[Networks, Batch]:
    task = _task(4, supervised=supervised)
    params = {**FAST, "discriminators": variant, "alpha_e": alpha, "alpha_d": alpha, "alpha_s": alpha, "alpha_c": alpha}
    nets = build_networks(task, params, Seeds(3))
    for m in nets.modules():
        m.train()
    yt = task.target_labeled.labels.float() if task.target_labeled is not None else None
    xt = task.unlabeled["target"].images
    return nets, Batch(task.source.images, task.source.labels.float(), xt, yt)


def _bce(nets: Networks, batch: Batch, key: str) -> float:
    with torch.no_grad():
        logit, maps = nets.generator.forward_maps(batch.images())
        return float(discriminator_losses(nets, logit, maps, batch)[key])


@pytest.mark.parametrize("variant", ["e", "d", "s", "sf4", "afc"])
def test_g_step_fools_the_discriminator_and_a_discriminator_step_does_not(variant: str) -> None:
    nets, batch = _setup(variant, 10.0)
    key = next(iter(nets.discriminators))
    before = _bce(nets, batch, key)
    g_opt = torch.optim.SGD(nets.generator.parameters(), lr=1e-7)  # steep: |∇L_Ds| ~ 500 at init
    logit, maps = nets.generator.forward_maps(batch.images())
    full, _, _ = generator_loss(nets, logit, maps, batch)
    g_opt.zero_grad()
    full.backward(inputs=list(nets.generator.parameters()))
    g_opt.step()
    after_g = _bce(nets, batch, key)
    assert after_g > before, (before, after_g)  # G maximises the discriminator's loss

    d_opt = torch.optim.SGD(nets.discriminators.parameters(), lr=1e-3)
    logit, maps = nets.generator.forward_maps(batch.images())
    method._update_discriminators(nets, d_opt, logit, maps, batch, CPU)
    after_d = _bce(nets, batch, key)
    assert after_d < after_g, (after_g, after_d)  # the discriminator minimises it


def _generator_grads(nets: Networks, loss: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(nets.generator.parameters()), allow_unused=True, materialize_grads=True))


def test_alpha_zero_gives_exactly_the_segmentation_gradients() -> None:
    for alpha, same in ((0.0, True), (0.1, False)):
        nets, batch = _setup("sed", alpha)
        logit, maps = nets.generator.forward_maps(batch.images())
        full, seg, parts = generator_loss(nets, logit, maps, batch)
        assert bool(parts) is not same
        reference = segmentation_loss(logit[: len(batch.xs)], batch.ys)
        assert torch.equal(seg, reference)
        got = _generator_grads(nets, full)
        logit, maps = nets.generator.forward_maps(batch.images())
        expected = _generator_grads(nets, segmentation_loss(logit[: len(batch.xs)], batch.ys))
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True)) is same


def test_full_loss_is_seg_minus_weighted_discriminator_losses() -> None:
    nets, batch = _setup("sed", 1.0)
    nets.alphas.update({"e": 0.01, "d": 0.05, "s": 0.1})
    with torch.no_grad():
        logit, maps = nets.generator.forward_maps(batch.images())
        full, seg, parts = generator_loss(nets, logit, maps, batch)
        # L_Ds: real = the source masks, fake = G's maps of both batches (UDA); BCE per group, summed (eq. 3)
        real = batch.ys[:, None]
        scores = nets.discriminators["s"](torch.cat([real, torch.sigmoid(logit)]))
        shape = torch.nn.functional.softplus(-scores[:4]).mean() + torch.nn.functional.softplus(scores[4:]).mean()
    assert scores.shape == (4 + 8,)
    assert torch.allclose(parts["s"], shape)
    assert torch.allclose(full, seg - 0.01 * parts["e"] - 0.05 * parts["d"] - 0.1 * parts["s"])


def test_sda_segmentation_loss_reads_the_target_masks() -> None:
    nets, batch = _setup("s", 0.1, supervised=True)
    assert batch.yt is not None
    logit, _ = nets.generator.forward_maps(batch.images())
    seg = segmentation_loss(batch.labelled_rows(logit), batch.masks())
    flipped = Batch(batch.xs, batch.ys, batch.xt, 1 - batch.yt)
    assert not torch.equal(seg, segmentation_loss(flipped.labelled_rows(logit), flipped.masks()))
    assert batch.labelled_images().shape[0] == 8 and batch.masks().shape[0] == 8  # 4 source + 4 target
    # UDA: L_seg sends no gradient into the target rows of the joint pass
    uda = Batch(batch.xs, batch.ys, batch.xt)
    joint = logit.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(segmentation_loss(uda.labelled_rows(joint), uda.masks()), [joint])
    assert torch.count_nonzero(grad[4:]) == 0 and torch.count_nonzero(grad[:4]) > 0
    # SDA: Ds's real masks are both domains' masks
    with torch.no_grad():
        assert discriminator_losses(nets, logit, {}, batch)["s"] != discriminator_losses(nets, logit, {}, flipped)["s"]
