"""MDD: the loss and its gradients against the formula, the GRL warm start, class weights, the paper's
augmentations, the ResNet-18 backbone and its local weights, and the method contract."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from dabench import RunDiverged, Seeds, SpecError, testing
from dabench.nn.resnet import resnet18_classifier, resnet18_features
from dabench_mdd import DEFAULTS, register_methods
from dabench_mdd.augment import PaperAugment, box_kernels, colour_jitter, crop_sizes, flip_rotate, fog_discs
from dabench_mdd.method import (
    MDD,
    GradientReversal,
    MDDNet,
    MDDStep,
    class_weights,
    grl_coefficient,
    mdd_loss,
    step_lr,
)

SPEC = next(iter(register_methods()))
CPU = torch.device("cpu")


def test_contract() -> None:
    assert SPEC.name == "mdd" and SPEC.paper.year == 2019 and "Bridging" in SPEC.paper.title
    testing.check_method(SPEC)  # 12 px toy task, 1 epoch of 3 steps, augmentations on


# ------------------------------------------------------------------------------------------------ the loss


def _log_softmax(row: list[float]) -> list[float]:
    top = max(row)
    norm = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - norm for v in row]


def test_loss_equals_the_formula_by_hand() -> None:
    logits_s = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.0, 3.0], [0.0, 2.0, 1.0]], requires_grad=True)
    logits_t = torch.tensor([[0.0, 1.0, 0.5], [3.0, 0.0, 0.0]], requires_grad=True)
    adv_s = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.3, -0.2, 0.1]])
    adv_t = torch.tensor([[0.0, 2.0, 0.0], [1.0, 1.0, -1.0]])
    labels = torch.tensor([0, 1, 1])
    weights = torch.tensor([0.5, 1.5, 1.0])
    out = mdd_loss(logits_s, logits_t, adv_s, adv_t, labels, weights, trade_off=0.7, margin=4.0)

    ce = [-_log_softmax(row)[y] for row, y in zip(logits_s.tolist(), labels.tolist(), strict=True)]
    w = [weights[y].item() for y in labels.tolist()]
    classification = sum(wi * ci for wi, ci in zip(w, ce, strict=True)) / sum(w)
    pseudo_s, pseudo_t = [0, 2, 1], [1, 0]  # argmax of f's logits
    adversary_source = sum(-_log_softmax(r)[k] for r, k in zip(adv_s.tolist(), pseudo_s, strict=True)) / 3
    p_t = [math.exp(_log_softmax(r)[k]) for r, k in zip(adv_t.tolist(), pseudo_t, strict=True)]
    adversary_target = -sum(math.log(1 - p) for p in p_t) / 2
    total = classification + 0.7 * (4.0 * adversary_source + adversary_target)
    assert out.classification.item() == pytest.approx(classification, rel=1e-6)
    assert out.adversary_source.item() == pytest.approx(adversary_source, rel=1e-6)
    assert out.adversary_target.item() == pytest.approx(adversary_target, rel=1e-6)
    assert out.total.item() == pytest.approx(total, rel=1e-6)
    # ŷ is detached: the bracket sends no gradient into f's logits
    bracket = out.total - out.classification
    grads = torch.autograd.grad(bracket, [logits_s, logits_t], allow_unused=True)
    assert all(g is None or torch.count_nonzero(g) == 0 for g in grads)


def test_log_is_clamped() -> None:
    adv_t = torch.tensor([[60.0, 0.0]])  # p ≈ 1: log(1 − p) would be −inf
    out = mdd_loss(
        torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), adv_t, torch.tensor([0]),
        torch.ones(2), trade_off=1.0, margin=4.0,
    )  # fmt: skip
    assert out.adversary_target.item() == pytest.approx(-math.log(1e-6))


def _tiny_step(coefficient_seed: int = 0) -> tuple[MDDStep, MDDNet]:
    torch.manual_seed(coefficient_seed)
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(12, 8))
    model = MDDNet(backbone, 8, 3, torch.zeros(3), torch.ones(3), bottleneck=6, dropout=0.0).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    return MDDStep(model, optimizer, torch.tensor([1.0, 2.0, 0.5]), trade_off=1.0, margin=4.0, device=CPU), model


def _grads(model: nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    values = torch.autograd.grad(loss, list(params.values()), allow_unused=True, retain_graph=True)
    return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params.items(), values, strict=True)}


def test_gradients_go_where_the_minimax_says() -> None:
    """f′ gets the bracket's gradient; ψ (backbone + bottleneck) gets the classification gradient minus c(i) times
    the bracket's; f gets only the classification gradient."""
    step, model = _tiny_step()
    g = torch.Generator().manual_seed(1)
    xs, xt = torch.rand(5, 3, 2, 2, generator=g), torch.rand(4, 3, 2, 2, generator=g)
    ys = torch.tensor([0, 1, 2, 1, 0])
    c = 0.37
    out = step.loss(xs, ys, xt, c)
    full, cls = _grads(model, out.total), _grads(model, out.classification)
    plain = step.loss(xs, ys, xt, -1.0)  # GRL coefficient −1: the identity, the bracket's own gradient
    bracket = _grads(model, plain.total - plain.classification)
    assert torch.allclose(out.total, plain.total)
    for name in full:
        if name.startswith("classifier."):
            assert torch.allclose(full[name], cls[name], atol=1e-7), name
            assert torch.count_nonzero(bracket[name]) == 0, name
        elif name.startswith("adversary."):
            assert torch.count_nonzero(cls[name]) == 0, name
            assert torch.allclose(full[name], bracket[name], atol=1e-6), name
        else:
            assert name.startswith("features.")
            assert torch.allclose(full[name], cls[name] - c * bracket[name], atol=1e-6), name
    assert any(torch.count_nonzero(bracket[n]) > 0 for n in bracket if n.startswith("features."))


def test_gradient_reversal() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    GradientReversal.apply(x, 0.25).sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.full((4, 3), -0.25))


def test_grl_warm_start() -> None:
    assert grl_coefficient(0) == 0.0
    assert grl_coefficient(1000) == pytest.approx(0.2 / (1 + math.exp(-1)) - 0.1)
    assert grl_coefficient(1000) == pytest.approx(0.0462, abs=1e-4)
    assert grl_coefficient(10**9) == pytest.approx(0.1)
    assert grl_coefficient(0, lo=0.05, hi=0.5) == pytest.approx(0.05)
    assert grl_coefficient(10**9, lo=0.05, hi=0.5, alpha=10, max_iters=10) == pytest.approx(0.5)
    values = [grl_coefficient(i) for i in range(0, 5000, 250)]
    assert values == sorted(values)


def test_class_weights_inverse_frequency() -> None:
    weights = class_weights(torch.tensor([0, 0, 0, 1, 2, 2]), 4)
    expected = torch.tensor([1 / 3, 1.0, 0.5, 0.0])
    expected = expected / expected[:3].mean()
    assert torch.allclose(weights, expected)
    assert weights[:3].mean().item() == pytest.approx(1.0) and weights[3] == 0


def test_step_schedule() -> None:
    assert [step_lr(1e-3, e, 20, 0.1) for e in (0, 19, 20, 39, 40)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5])


# ------------------------------------------------------------------------------------------------ augmentation


def _images(n: int = 6, channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_augment_shape_range_and_determinism() -> None:
    x = _images()
    before = x.clone()
    a = PaperAugment(torch.Generator().manual_seed(3))(x)
    b = PaperAugment(torch.Generator().manual_seed(3))(x)
    c = PaperAugment(torch.Generator().manual_seed(4))(x)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(x, before)
    grey = PaperAugment(torch.Generator().manual_seed(3))(_images(channels=1, size=16))
    assert grey.shape == (6, 1, 16, 16)


def test_augment_disabled_is_identity() -> None:
    x = _images()
    assert PaperAugment(torch.Generator().manual_seed(0), enabled=False)(x) is x


def test_augment_leaves_the_global_rng_alone() -> None:
    state = torch.get_rng_state()
    PaperAugment(torch.Generator().manual_seed(0))(_images())
    assert torch.equal(torch.get_rng_state(), state)


def test_crop_sizes_scale_the_paper() -> None:
    assert crop_sizes(360, 360) == ((345, 345), (224, 224))
    assert crop_sizes(64, 64) == ((61, 61), (40, 40))


def test_box_kernels() -> None:
    k = box_kernels(torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64))
    assert torch.allclose(k[0], torch.tensor([1 / 3, 1 / 3, 1 / 3], dtype=torch.float64))
    assert torch.allclose(k[1], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(k[2], torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64))


def test_flip_and_rotation() -> None:
    x = _images(n=3, size=8)
    flipped = flip_rotate(x, torch.tensor([0, 1, 2]), torch.zeros(3))
    assert torch.allclose(flipped[0], x[0].flip(-2), atol=1e-5)
    assert torch.allclose(flipped[1], x[1].flip(-1), atol=1e-5)
    assert torch.allclose(flipped[2], x[2].flip(-1, -2), atol=1e-5)
    quarter = flip_rotate(x, torch.tensor([-1, -1, -1]), torch.full((3,), 90.0))
    assert torch.allclose(quarter, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5) or torch.allclose(
        quarter, torch.rot90(x, -1, dims=(-2, -1)), atol=1e-5
    )


def test_fog_moves_towards_white_near_the_centre() -> None:
    from dabench_mdd.augment import apply_fog

    g = torch.Generator().manual_seed(0)
    discs = fog_discs(1.0, (224, 224), g)
    centres, radius, blur = discs
    assert len(centres) > 0 and radius == 37 and blur == 7  # hw = 74 at coefficient 1
    x = torch.full((1, 3, 40, 40), 0.2)
    fogged = apply_fog(x, [1.0], [discs], (224, 224))
    assert float(fogged.min()) >= 0.2 - 1e-6 and float(fogged.max()) <= 1.0
    assert float(fogged[..., 15:25, 15:25].mean()) > 0.25


def test_colour_jitter_brightness_first() -> None:
    x = torch.full((1, 3, 2, 2), 0.5)
    order = torch.tensor([[0, 1, 2]])
    out = colour_jitter(x, torch.tensor([1.2]), torch.tensor([1.0]), torch.tensor([1.0]), order)
    assert torch.allclose(out, torch.full_like(x, 0.6))


# ------------------------------------------------------------------------------------------------ the backbone


@pytest.mark.parametrize("channels", [3, 1])
def test_resnet18_features_shape(channels: int) -> None:
    net, dim = resnet18_features(channels, seed=5)
    assert dim == 512
    assert net(torch.rand(2, channels, 32, 32)).shape == (2, 512)


def test_resnet18_is_seeded_without_the_global_rng() -> None:
    state = torch.get_rng_state()
    a, _ = resnet18_features(3, seed=1)
    b, _ = resnet18_features(3, seed=1)
    c, _ = resnet18_features(3, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    weight: list[torch.Tensor] = [net.conv1.weight for net in (a, b, c)]  # type: ignore[union-attr,misc]
    assert torch.equal(weight[0], weight[1]) and not torch.equal(weight[0], weight[2])
    head = resnet18_classifier(3, 4, seed=1)
    assert head(torch.rand(2, 3, 32, 32)).shape == (2, 4)


def test_weights_from_a_torchvision_state_dict(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    reference = resnet18(weights=None).eval()
    path = tmp_path / "r18.pt"
    torch.save(reference.state_dict(), path)
    net, _ = resnet18_features(3, weights=str(path), seed=9)
    x = torch.rand(2, 3, 32, 32)
    reference.fc = nn.Identity()  # type: ignore[assignment]
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), reference(x), atol=1e-6)
        grey, _ = resnet18_features(1, weights=str(path))  # 3-channel conv1 summed: the grey image repeated
        g = torch.rand(2, 1, 32, 32)
        assert torch.allclose(grey.eval()(g), reference(g.expand(-1, 3, -1, -1)), atol=1e-4)


def test_bad_weights_are_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        resnet18_features(3, weights=str(tmp_path / "missing.pt"))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a state dict")
    with pytest.raises(SpecError, match="could not be read"):
        resnet18_features(3, weights=str(garbage))
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "head.weight": torch.zeros(2)}, wrong)
    with pytest.raises(SpecError, match=r"missing .*unexpected head\.weight"):
        resnet18_features(3, weights=str(wrong))
    with pytest.raises(SpecError, match=r"weights='nowhere\.pt': no such file"):
        MDD({**DEFAULTS, "weights": "nowhere.pt"})


# ------------------------------------------------------------------------------------------------ training


def test_divergence_is_recorded_as_such() -> None:
    task = testing.toy_task()
    with pytest.raises(RunDiverged):
        MDD({**DEFAULTS, "epochs": 1, "lr": 1e30, "augment": False}).fit(task, seeds=Seeds(0), device=CPU)


def test_predictor_sees_bottleneck_features() -> None:
    task = testing.toy_task(n=64)
    params = {**DEFAULTS, "epochs": 1, "bottleneck": 16, "augment": False}
    predictor = MDD(params).fit(task, seeds=Seeds(1), device=CPU)
    x = task.unlabeled["target"].images
    logits, features = predictor.predict_with_features(x)
    assert logits.shape == (64, 3) and features is not None and features.shape == (64, 16)
    assert torch.allclose(predictor.predict(x), logits, atol=1e-5)


def test_offers_a_checkpoint_per_epoch() -> None:
    from dabench.nn.checkpoints import collecting

    task = testing.toy_task(n=64)
    params = {**DEFAULTS, "epochs": 2, "bottleneck": 16, "augment": False}
    with collecting(1) as kept:
        final = MDD(params).fit(task, seeds=Seeds(1), device=CPU)
    assert [c.epoch for c in kept.items] == [1, 2]
    x = task.unlabeled["target"].images
    assert torch.allclose(kept.items[-1].predictor.predict(x), final.predict(x), atol=1e-6)
    assert not torch.allclose(kept.items[0].predictor.predict(x), final.predict(x), atol=1e-6)


def test_evaluated_images_are_cropped_to_the_training_scale() -> None:
    """Training crops show 224/360 of an image resized to the input size; evaluation must see that scale too."""
    import torch

    from dabench_mdd.method import Normalise

    x = torch.rand(2, 3, 36, 36, generator=torch.Generator().manual_seed(0))
    mean, std = torch.zeros(3), torch.ones(3)
    cropping, plain = Normalise(mean, std, eval_crop=True), Normalise(mean, std)
    assert torch.equal(cropping.train()(x), x) and torch.equal(plain.eval()(x), x)
    out = cropping.eval()(x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    centre = x[..., 7:29, 7:29]  # round(36 · 224/360) = 22 pixels, centred
    expected = torch.nn.functional.interpolate(centre, size=(36, 36), mode="bilinear", antialias=True)
    assert torch.allclose(out, expected)
