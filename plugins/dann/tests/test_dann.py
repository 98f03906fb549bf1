"""DANN: gradient reversal, Ganin's λ schedule, and training behaviour on a toy shift."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from dabench import Seeds, testing
from dabench_dann import DEFAULTS, register_methods
from dabench_dann.method import DANN, DANNStep, GradientReversal, domain_classifier, grl_lambda


def test_gradient_reversal_flips_and_scales() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    GradientReversal.apply(x, 0.7).sum().backward()
    assert torch.allclose(x.grad, torch.full((5, 3), -0.7))
    y = torch.randn(4, requires_grad=True)
    out = GradientReversal.apply(y, 2.0)
    assert torch.equal(out, y)


def test_lambda_schedule_matches_ganin() -> None:
    assert grl_lambda(0.0, 10.0) == 0.0
    assert grl_lambda(1.0, 10.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert grl_lambda(0.5, 10.0, lambda_max=0.5) == pytest.approx(0.5 * (2 / (1 + math.exp(-5)) - 1))
    values = [grl_lambda(p / 10, 10.0) for p in range(11)]
    assert values == sorted(values)


def test_step_trains_the_domain_classifier_against_the_features() -> None:
    """With λ > 0 the features receive the *reversed* domain gradient: a step moves the feature extractor so the
    domain loss goes up, while the discriminator alone moves it down."""
    torch.manual_seed(0)
    task = testing.toy_task()
    from dabench.nn.training import build_classifier

    model = build_classifier(task, {**DEFAULTS, "width": 8, "hidden": 16}, Seeds(0))
    disc = domain_classifier(model.feature_dim, 16, 2)
    x, y = task.source.images[:32], task.source.labels[:32]
    xt = task.unlabeled["target"].images[:32]
    labels = torch.cat([torch.zeros(32, dtype=torch.long), torch.ones(32, dtype=torch.long)])

    def domain_loss() -> float:
        model.train()
        disc.train()
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(disc(model.features(torch.cat([x, xt]))), labels))

    only_features = torch.optim.SGD(model.features.parameters(), lr=0.5)
    step = DANNStep(model, disc, only_features, weight=1.0, source_in_domains=True)
    before = domain_loss()
    for _ in range(5):
        step(x, y, [xt], 1.0)
    assert domain_loss() > before


def test_fit_is_deterministic_and_registered() -> None:
    spec = next(iter(register_methods()))
    assert spec.name == "dann" and spec.paper.year == 2015
    testing.check_method(spec)


def test_needs_two_domains() -> None:
    task = testing.toy_task()
    from dabench import AdaptationTask

    lonely = AdaptationTask(
        source=task.source, unlabeled={}, num_classes=3, input_shape=task.input_shape, source_in_domains=True
    )
    with pytest.raises(ValueError, match="two domains"):
        DANN({**DEFAULTS, **testing.FAST_PARAMS}).fit(lonely, seeds=Seeds(0), device=torch.device("cpu"))


# ------------------------------------------------------------------ BatchNorm: per-domain passes (issue 9, item 4)

FAST = {**DEFAULTS, "epochs": 2, "batch_size": 16, "width": 8, "hidden": 16}


def _bn_buffers(predictor: object) -> dict[str, torch.Tensor]:
    model = predictor.model  # type: ignore[attr-defined]
    return {name: t.clone() for name, t in model.named_buffers()}


def _black_target_task() -> object:
    """The toy source with black images as the unlabelled target: something far from the source to (not) align."""
    from dabench import AdaptationTask, UnlabeledSplit

    task = testing.toy_task(n=96)
    return AdaptationTask(
        source=task.source,
        unlabeled={"target": UnlabeledSplit(images=torch.zeros_like(task.unlabeled["target"].images))},
        num_classes=task.num_classes,
        input_shape=task.input_shape,
    )


@pytest.mark.parametrize("off", [{"lambda_max": 0.0}, {"domain_loss_weight": 0.0}])
def test_adversarial_term_off_is_source_only(off: dict[str, float]) -> None:
    """The control: with no adversarial term, per-domain DANN is exactly source_only with the same seeds — same
    predictions and the same BN running statistics (from source batches only), though DA batches were forwarded."""
    from dabench.nn.training import SupervisedTraining

    task = _black_target_task()
    cpu = torch.device("cpu")
    dann = DANN({**FAST, **off}).fit(task, seeds=Seeds(3), device=cpu)  # type: ignore[arg-type]
    plain = SupervisedTraining(FAST).fit(task, seeds=Seeds(3), device=cpu)  # type: ignore[arg-type]
    x = task.source.images  # type: ignore[attr-defined]
    assert torch.equal(dann.predict(x), plain.predict(x))
    dann_buffers, plain_buffers = _bn_buffers(dann), _bn_buffers(plain)
    assert dann_buffers.keys() == plain_buffers.keys() and len(dann_buffers) > 0
    assert all(torch.equal(dann_buffers[k], plain_buffers[k]) for k in plain_buffers)


def test_joint_mode_mixes_da_data_into_bn_statistics() -> None:
    """Version 1's single mixed batch: even with the adversarial term off, the black DA images move the running
    statistics the model is tested with — the confound per-domain passes remove."""
    from dabench.nn.training import SupervisedTraining

    task = _black_target_task()
    cpu = torch.device("cpu")
    joint = DANN({**FAST, "lambda_max": 0.0, "bn_mode": "joint"}).fit(task, seeds=Seeds(3), device=cpu)  # type: ignore[arg-type]
    plain = SupervisedTraining(FAST).fit(task, seeds=Seeds(3), device=cpu)  # type: ignore[arg-type]
    first = "features.1.running_mean"  # the first conv layer's BN: black inputs pull its mean towards the bias
    assert not torch.allclose(_bn_buffers(joint)[first], _bn_buffers(plain)[first], atol=1e-3)


def test_per_domain_step_leaves_running_stats_to_the_source_batch() -> None:
    """One step: DA batches are normalised with their own batch statistics (their features differ from what the
    source statistics give) but the running statistics move exactly as for the source batch alone."""
    from dabench.nn.training import build_classifier

    task = testing.toy_task()
    model = build_classifier(task, FAST, Seeds(0))
    reference = build_classifier(task, FAST, Seeds(0))
    disc = domain_classifier(model.feature_dim, 16, 2)
    x, y = task.source.images[:16], task.source.labels[:16]
    xt = task.unlabeled["target"].images[:16] * 3.0
    step = DANNStep(model, disc, torch.optim.SGD(disc.parameters(), lr=0.0), 1.0, True)
    model.train()
    reference.train()
    step(x, y, [xt], 1.0)
    with torch.no_grad():
        reference(x)
    for (name, a), (_, b) in zip(model.named_buffers(), reference.named_buffers(), strict=True):
        assert torch.equal(a, b), name
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    alone = copy.deepcopy(model.features).train()
    with torch.no_grad():
        _, (target_features,) = step.features(x, [xt])
        assert torch.allclose(target_features, alone(xt))  # normalised with its own batch statistics ...
        assert not torch.allclose(target_features, model.features.eval()(xt), atol=1e-2)  # ... not the running ones


def test_bn_mode_is_checked_and_version_bumped() -> None:
    from dabench import SpecError

    spec = next(iter(register_methods()))
    assert spec.version == "2" and spec.defaults["bn_mode"] == "per_domain"
    with pytest.raises(SpecError, match="bn_mode='mixed' is not valid: use one of 'per_domain', 'joint'"):
        DANN({**DEFAULTS, "bn_mode": "mixed"})


def test_joint_mode_contract() -> None:
    testing.check_method(next(iter(register_methods())), params={"bn_mode": "joint"})
