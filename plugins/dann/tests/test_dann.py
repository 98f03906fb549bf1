"""DANN: gradient reversal, Ganin's λ schedule, and training behaviour on a toy shift."""

from __future__ import annotations

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
