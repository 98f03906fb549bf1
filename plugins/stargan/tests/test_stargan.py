"""StarGAN (Valliani et al.): network shapes and the depth rule, the losses against hand computations, what stage 2
trains and leaves alone, stage 3's training data, several domains, the picture, the schedule and the contract."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
from torch import nn

import dabench_stargan.method as method_module
from dabench import AdaptationTask, LabeledSplit, RunDiverged, Seeds, SpecError, UnlabeledSplit, testing
from dabench.nn.training import build_classifier
from dabench_stargan import DEFAULTS, TEST_PARAMS, register_methods
from dabench_stargan.iteration import BatchSampler, GanState, gan_lr, train_gan, train_iteration
from dabench_stargan.losses import critic_loss, cycle_loss, gradient_penalty, semantic_loss
from dabench_stargan.networks import Discriminator, Generator, build_networks, check_image_size, default_layers

SPEC = next(iter(register_methods()))
CPU = torch.device("cpu")
FAST = {**DEFAULTS, **TEST_PARAMS}


def test_contract() -> None:
    assert SPEC.name == "stargan" and SPEC.paper.year == 2018 and "StarGAN" in SPEC.paper.title
    testing.check_method(SPEC, params=TEST_PARAMS)  # the 12 px grey toy task: D with 2 layers, 3×3 patches


def test_every_numeric_parameter_has_a_range() -> None:
    numeric = {k for k, v in DEFAULTS.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    assert set(SPEC.param_ranges) == numeric


def _task(size: int = 16, channels: int = 3, extra: int = 0, n: int = 48) -> AdaptationTask:
    """``testing.toy_task`` at ``size`` px with the ``uda`` layout (``source`` among the unlabelled domains) and
    ``extra`` more unlabelled domains."""
    toy = testing.toy_task(shape=(channels, size, size), n=n)
    unlabeled = {"source": toy.source.without_labels(), "target": toy.unlabeled["target"]}
    for i in range(extra):
        unlabeled[f"extra{i}"] = UnlabeledSplit(images=(toy.unlabeled["target"].images.flip(-1) * (0.5 + 0.2 * i)))
    return AdaptationTask(
        source=toy.source, unlabeled=unlabeled, num_classes=toy.num_classes, input_shape=(channels, size, size)
    )


# ------------------------------------------------------------------------------------------------ networks


def test_generator_keeps_the_shape_and_range() -> None:
    g = Generator(3, 2, width=4, res_blocks=2)
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    code = torch.eye(2)[torch.tensor([0, 1, 1, 0, 1])]
    out = g(x, code)
    assert out.shape == x.shape and float(out.detach().min()) >= -1 and float(out.detach().max()) <= 1
    assert not torch.allclose(g(x, torch.eye(2)[[0] * 5]), g(x, torch.eye(2)[[1] * 5]))  # the code matters
    assert torch.allclose(g(x[:2], code[:2]), out[:2], atol=1e-6)  # InstanceNorm: rows do not interact
    assert sum(isinstance(m, nn.InstanceNorm2d) and m.affine for m in g.modules()) == 5 + 2 * 2


def test_discriminator_depth_adapted_to_the_size() -> None:
    d = Discriminator(3, 3, 32, 32, width=4)  # default: log2(32) − 1 = 4 layers → 2×2 patches
    assert d.layers == 4 and d.patches == (2, 2)
    src, cls = d(torch.rand(6, 3, 32, 32))
    assert src.shape == (6, 1, 2, 2) and cls.shape == (6, 3)
    convs = [m for m in d.trunk if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 32] and all(c.stride == (2, 2) for c in convs)
    assert not any(isinstance(m, nn.InstanceNorm2d | nn.BatchNorm2d) for m in d.modules())
    d16 = Discriminator(1, 2, 16, 16, width=4)
    assert d16.layers == 3 and d16(torch.rand(2, 1, 16, 16))[0].shape == (2, 1, 2, 2)
    assert default_layers(12, 12) == 2 and default_layers(128, 128) == 6 and default_layers(224, 224) == 5
    assert Discriminator(1, 2, 32, 32, width=2, layers=5)(torch.rand(2, 1, 32, 32))[0].shape == (2, 1, 1, 1)


@pytest.mark.parametrize("size", [30, 6, 4])
def test_unsupported_size_names_the_valid_ones(size: int) -> None:
    with pytest.raises(SpecError, match="multiples of 4 and at least 8"):
        check_image_size(size, size)
    with pytest.raises(SpecError, match="multiples of 4"):
        SPEC.build(FAST).fit(testing.toy_task(shape=(1, size, size)), seeds=Seeds(0), device=CPU)


def test_too_deep_a_discriminator_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="use 1 to 2 layers"):
        Discriminator(1, 2, 12, 12, layers=3)


def test_networks_are_seeded_without_the_global_rng() -> None:
    state = torch.get_rng_state()
    g1, _ = build_networks(1, 16, 16, 2, g_width=4, g_res_blocks=1, d_width=4, d_layers=0, seed=5)
    g2, _ = build_networks(1, 16, 16, 2, g_width=4, g_res_blocks=1, d_width=4, d_layers=0, seed=5)
    g3, _ = build_networks(1, 16, 16, 2, g_width=4, g_res_blocks=1, d_width=4, d_layers=0, seed=6)
    assert torch.equal(torch.get_rng_state(), state)
    first = next(iter(g1.parameters()))
    assert torch.equal(first, next(iter(g2.parameters()))) and not torch.equal(first, next(iter(g3.parameters())))


# ------------------------------------------------------------------------------------------------ losses


def test_gradient_penalty_of_a_linear_critic() -> None:
    lin = nn.Linear(12, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(12.0).reshape(1, 12) / 10)
    real, fake = torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    gp = gradient_penalty(lambda x: lin(x.flatten(1)), real, fake, torch.rand(4))
    norm = math.sqrt(sum((i / 10) ** 2 for i in range(12)))  # ∇ = w everywhere
    assert gp.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)


def test_gradient_penalty_interpolates_per_image() -> None:
    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    alpha = torch.tensor([0.0, 0.25, 1.0])
    gp = gradient_penalty(lambda x: x.pow(2).flatten(1).sum(1), real, fake, alpha)  # ∇ = 2 x̂
    expected = 0.0
    for i, a in enumerate(alpha.tolist()):
        mixed = a * real[i] + (1 - a) * fake[i]
        expected += (2 * mixed.norm().item() - 1) ** 2 / 3
    assert gp.item() == pytest.approx(expected, rel=1e-5)
    w = torch.ones(1, requires_grad=True)
    gp_w = gradient_penalty(lambda x: w * x.flatten(1).sum(1), real, fake, alpha)
    (grad,) = torch.autograd.grad(gp_w, w)  # the penalty trains the critic (create_graph)
    assert grad.item() == pytest.approx(2 * (w.item() * 2 - 1) * 2, rel=1e-5)  # ‖∇‖ = 2·w for 4 pixels


def test_critic_loss_raises_real_and_lowers_fake() -> None:
    src_real = torch.tensor([[1.0, 3.0], [2.0, 2.0]], requires_grad=True)
    src_fake = torch.tensor([[0.5], [-0.5], [1.0]], requires_grad=True)
    cls_real = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    loss = critic_loss(
        src_real, src_fake, cls_real, torch.tensor([0, 1]), torch.tensor(0.3), lambda_gp=10, lambda_cls=2
    )
    ce = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0))) / 2
    assert loss.adversarial.item() == pytest.approx(-2.0 + 1.0 / 3)
    assert loss.total.item() == pytest.approx(-2.0 + 1.0 / 3 + 3.0 + 2 * ce, rel=1e-6)
    real_grad, fake_grad = torch.autograd.grad(loss.total, [src_real, src_fake])
    assert bool((real_grad < 0).all()) and bool((fake_grad > 0).all())  # descent: real scores up, fake down


def test_semantic_loss_is_the_sum_of_the_three_cycada_terms() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    c, target = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g).requires_grad_(True)
    labels = torch.tensor([0, 2, 1, 1])
    out = semantic_loss(a, b, labels, c, target)
    ce = nn.functional.cross_entropy
    assert out.cycled.item() == pytest.approx(ce(a, labels).item())
    assert out.translated.item() == pytest.approx(ce(b, labels).item())
    assert out.to_source.item() == pytest.approx(ce(c, target.argmax(1)).item())
    assert out.total.item() == pytest.approx(out.cycled.item() + out.translated.item() + out.to_source.item())
    assert not out.total.requires_grad  # pseudo-labels carry no gradient into F_T's target logits


def test_cycle_loss_is_mean_absolute_error() -> None:
    x = torch.rand(2, 1, 4, 4)
    assert cycle_loss(x, x).item() == 0.0
    assert cycle_loss(x, x + 0.25).item() == pytest.approx(0.25)


# ------------------------------------------------------------------------------------------------ stage 2


class IdentityG(nn.Module):
    """G(x, c) = x (a zero-gradient parameter so Adam has something to hold)."""

    def __init__(self, n_domains: int) -> None:
        super().__init__()
        self.n_domains, self.p = n_domains, nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return x + 0.0 * self.p


def _state(task: AdaptationTask, n_domains: int, g: nn.Module | None = None) -> GanState:
    params = {**FAST, "lr_gan": 1e-2}
    generator, d = build_networks(3, 16, 16, n_domains, g_width=4, g_res_blocks=1, d_width=4, d_layers=0, seed=1)
    f_s = build_classifier(task, params, Seeds(0)).eval()
    return GanState.create(g or generator, d, f_s, params)


def _sampler(task: AdaptationTask, n_critic: int = 2) -> BatchSampler:
    domains = [task.source.images, task.unlabeled["target"].images]
    return BatchSampler(domains, task.source.labels, per_domain=4, n_critic=n_critic, seeds=Seeds(0), device=CPU)


def test_identity_generator_has_zero_cycle_loss() -> None:
    task = _task()
    losses = train_iteration(_state(task, 2, IdentityG(2)), _sampler(task)())
    assert losses["g_cycle"].item() == 0.0 and math.isfinite(losses["total"].item())


def test_stage_two_freezes_f_s_and_trains_f_t_g_d() -> None:
    task = _task()
    state = _state(task, 2)
    before = {name: {k: v.clone() for k, v in m.state_dict().items()} for name, m in _modules(state).items()}
    sampler = _sampler(task)
    for _ in range(2):
        train_iteration(state, sampler())
    after = {name: m.state_dict() for name, m in _modules(state).items()}
    assert all(torch.equal(v, after["f_s"][k]) for k, v in before["f_s"].items())  # weights and BN statistics
    assert not any(p.requires_grad for p in state.source_classifier.parameters())
    for name in ("f_t", "g", "d"):
        assert any(not torch.equal(v, after[name][k]) for k, v in before[name].items()), name
    assert all(p.requires_grad for m in (state.target_classifier, state.discriminator) for p in m.parameters())


def _modules(state: GanState) -> dict[str, nn.Module]:
    return {
        "f_s": state.source_classifier,
        "f_t": state.target_classifier,
        "g": state.generator,
        "d": state.discriminator,
    }


def test_batches_pair_every_domain_with_another() -> None:
    task = _task()
    batch = _sampler(task, n_critic=3)()
    assert len(batch.critic) == 3
    first = batch.critic[0]
    assert first.images.shape == (8, 3, 16, 16) and first.n_source == 4
    assert float(first.images.min()) >= -1 and float(first.images.max()) <= 1
    assert first.domains.tolist() == [0] * 4 + [1] * 4 and bool((first.targets != first.domains).all())
    assert not torch.equal(batch.critic[0].images, batch.critic[1].images)  # every critic step draws its own


def test_lr_constant_then_linear_to_zero() -> None:
    lrs = [gan_lr(1.0, i, 10) for i in range(10)]
    assert lrs == pytest.approx([1.0] * 5 + [1.0, 0.8, 0.6, 0.4, 0.2])
    assert gan_lr(1.0, 10, 10) == 0.0 and gan_lr(1e-4, 199_999, 200_000) == pytest.approx(1e-9)
    task = _task()
    state = _state(task, 2)
    train_gan(state, _sampler(task), iterations=4, lr=1e-3, log_every=2)
    assert all(group["lr"] == pytest.approx(5e-4) for group in state.opt_g.param_groups)  # the last: 1e-3 · 1/2


def test_loss_history_and_divergence() -> None:
    task = _task()
    history = train_gan(_state(task, 2), _sampler(task), iterations=3, lr=1e-4, log_every=2)
    assert history["iteration"] == [2.0, 3.0] and len(history["g_semantic"]) == 2
    assert set(history) >= {"d_adversarial", "d_gradient_penalty", "d_classification", "g_adversarial"}

    class NanG(IdentityG):
        def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
            return x * float("nan") + self.p

    with pytest.raises(RunDiverged, match="step 1 of 3"):
        train_gan(_state(task, 2, NanG(2)), _sampler(task), iterations=3, lr=1e-4, log_every=1)


# ------------------------------------------------------------------------------------------------ stages 1–3


class ConstantG(IdentityG):
    """G(x, c) = 0.4 everywhere (0.7 as an image in [0, 1])."""

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 0.4) + 0.0 * self.p


def test_stage_three_fine_tunes_on_translated_images(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[torch.Tensor] = []
    original_train = method_module.train_classifier
    original_build = method_module.build_networks

    def spy_train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, **kw: Any) -> None:
        calls.append(images.clone())
        original_train(model, images, labels, **kw)

    def constant_build(*args: Any, **kw: Any) -> tuple[nn.Module, nn.Module]:
        g, d = original_build(*args, **kw)
        return ConstantG(g.n_domains), d

    monkeypatch.setattr(method_module, "train_classifier", spy_train)
    monkeypatch.setattr(method_module, "build_networks", constant_build)
    task = _task()
    predictor = SPEC.build(FAST).fit(task, seeds=Seeds(0), device=CPU)
    assert len(calls) == 2 and torch.equal(calls[0], task.source.images)  # stage 1: the source itself
    assert torch.allclose(calls[1], torch.full_like(task.source.images, 0.7))  # stage 3: G's constant
    assert predictor.predict(task.unlabeled["target"].images).shape == (len(task.unlabeled["target"]), 3)


def test_predictor_extras_and_three_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[nn.Module, nn.Module]] = []
    original_build = method_module.build_networks

    def spy_build(*args: Any, **kw: Any) -> tuple[nn.Module, nn.Module]:
        built.append(original_build(*args, **kw))
        return built[-1]

    monkeypatch.setattr(method_module, "build_networks", spy_build)
    task = _task(extra=1)
    task = AdaptationTask(**{**task.__dict__, "adapt_domain": "extra0"})
    state = torch.get_rng_state()
    predictor = method_module.StarGAN({**FAST, "gan_batch": 12}).fit(task, seeds=Seeds(3), device=CPU)
    assert torch.equal(torch.get_rng_state(), state)  # no global RNG
    g, d = built[0]
    assert isinstance(g, Generator) and g.n_domains == 3 and isinstance(d, Discriminator) and d.cls.out_channels == 3
    assert predictor.domains == ["source", "extra0", "target"]
    assert all(out.shape[1] == 3 for _, out in predictor.grid)
    assert set(predictor.gan_losses) >= {"g_cycle", "g_semantic", "d_gradient_penalty"}
    assert math.isfinite(predictor.semantic_retention) and predictor.semantic_retention >= 0
    assert predictor.source_predictor.predict(task.source.images).shape == (len(task.source), 3)
    from PIL import Image

    png = predictor.figures()["translations"]
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > image.size[0]


def test_gan_iters_zero_is_the_source_classifier_the_adapted_run_starts_from() -> None:
    task = _task()
    adapted = method_module.StarGAN(FAST).fit(task, seeds=Seeds(4), device=CPU)
    baseline = method_module.StarGAN({**FAST, "gan_iters": 0}).fit(task, seeds=Seeds(4), device=CPU)
    assert not hasattr(baseline, "training_report")  # stage 1 alone: nothing to report
    x = task.source.images
    assert torch.equal(baseline.predict(x), adapted.source_predictor.predict(x))
    report = adapted.training_report()
    assert set(report) == {"gan_losses", "semantic_retention"} and report["gan_losses"] == adapted.gan_losses


def test_bad_tasks_are_spec_errors() -> None:
    toy = testing.toy_task(shape=(1, 16, 16))
    only_source = AdaptationTask(
        source=toy.source, unlabeled={"source": toy.source.without_labels()}, num_classes=3, input_shape=(1, 16, 16)
    )
    with pytest.raises(SpecError, match="at least one unlabelled domain"):
        SPEC.build(FAST).fit(only_source, seeds=Seeds(0), device=CPU)
    wrong = AdaptationTask(**{**toy.__dict__, "adapt_domain": "elsewhere"})
    with pytest.raises(SpecError, match="not one of the unlabelled domains"):
        SPEC.build(FAST).fit(wrong, seeds=Seeds(0), device=CPU)
    with pytest.raises(SpecError, match="gan_batch >= 4"):
        SPEC.build({**FAST, "gan_batch": 3}).fit(toy, seeds=Seeds(0), device=CPU)
    tiny = AdaptationTask(
        **{**toy.__dict__, "source": LabeledSplit(images=toy.source.images[:1], labels=toy.source.labels[:1])}
    )
    with pytest.raises(SpecError, match="at least 2 labelled source images"):
        SPEC.build(FAST).fit(tiny, seeds=Seeds(0), device=CPU)
