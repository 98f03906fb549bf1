"""DANN training (Ganin & Lempitsky 2015), as used by the DANN inter-semantic histopathology study.

Each step draws a labelled source batch and one batch from every adaptation domain; the label predictor is trained
on the source batch, and a domain classifier — attached to the feature extractor through a gradient reversal layer
(GRL) — learns to tell the domains apart while the reversed gradient makes the features domain-invariant. The GRL
coefficient follows ``λ_p = λ_max · (2 / (1 + exp(-γ p)) − 1)`` and the learning rate ``lr / (1 + α p)^β``, with
``p`` the training progress in [0, 1]. A non-finite loss or parameter fails the run as diverged
(:class:`~dabench.nn.training.DivergenceGuard`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dabench import AdaptationTask, Seeds
from dabench.nn.models import FeatureClassifier, init_parameters
from dabench.nn.training import (
    DivergenceGuard,
    IndexBatches,
    ModelPredictor,
    build_classifier,
    ganin_lr,
    set_lr,
    sgd,
    steps_per_epoch,
)


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-λ`` backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.neg() * ctx.lambd, None


def grl_lambda(progress: float, gamma: float, lambda_max: float = 1.0) -> float:
    """Ganin's schedule ``λ_max · (2 / (1 + exp(-γ p)) − 1)``: 0 at the start, → λ_max at the end."""
    return lambda_max * (2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0)


def domain_classifier(feature_dim: int, hidden: int, num_domains: int) -> nn.Module:
    """Ganin's domain classifier: FC ``hidden`` → ReLU → FC ``num_domains``."""
    return nn.Sequential(
        nn.Linear(feature_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, num_domains)
    )


class DANN:
    """The ``dann`` method; see the module docstring."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        p = self.params
        batch = int(p["batch_size"])
        model = build_classifier(task, p, seeds).to(device)
        domains = [split.images.to(device) for _, split in sorted(task.unlabeled.items())]
        num_domains = len(domains) + (1 if task.source_in_domains else 0)
        if num_domains < 2:
            raise ValueError(f"DANN needs at least two domains to align (got {num_domains})")
        discriminator = domain_classifier(model.feature_dim, int(p["domain_hidden"]), num_domains)
        init_parameters(discriminator, seeds.torch("init-domain"))
        discriminator = discriminator.to(device)
        xs, ys = task.source.images.to(device), task.source.labels.to(device)
        source_batches = iter(IndexBatches(len(xs), batch, seeds.torch("loader"), device))
        domain_batches = [
            iter(IndexBatches(len(x), batch, seeds.torch(f"loader-domain-{i}"), device)) for i, x in enumerate(domains)
        ]
        total = int(p["epochs"]) * steps_per_epoch(len(xs), batch)
        optimizer = sgd(nn.ModuleList([model, discriminator]), p)
        step_fn = DANNStep(model, discriminator, optimizer, float(p["domain_loss_weight"]), task.source_in_domains)
        guard = DivergenceGuard(total)
        model.train()
        discriminator.train()
        for step in range(total):
            progress = step / total
            set_lr(optimizer, ganin_lr(p["lr"], progress, p["lr_alpha"], p["lr_beta"]))
            index = next(source_batches)
            extra = [x[next(it)] for x, it in zip(domains, domain_batches, strict=True)]
            loss = step_fn(xs[index], ys[index], extra, grl_lambda(progress, p["gamma"], p["lambda_max"]))
            guard.check(loss, step)
        guard.finish(model, discriminator)
        return ModelPredictor(model, device)


class DANNStep:
    """One DANN optimisation step on a labelled source batch and one batch per adaptation domain."""

    def __init__(
        self,
        model: FeatureClassifier,
        discriminator: nn.Module,
        optimizer: torch.optim.Optimizer,
        weight: float,
        source_in_domains: bool,
    ) -> None:
        self.model, self.discriminator, self.optimizer = model, discriminator, optimizer
        self.weight, self.source_in_domains = weight, source_in_domains
        self.class_loss, self.domain_loss = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, domain_x: list[torch.Tensor], lambd: float) -> torch.Tensor:
        n = len(x)
        inputs = torch.cat([x, *domain_x]) if domain_x else x
        features = self.model.features(inputs)
        logits = self.model.classifier(features[:n])
        loss = self.class_loss(logits, y)
        parts = ([x] if self.source_in_domains else []) + list(domain_x)
        domain_features = features if self.source_in_domains else features[n:]
        labels = torch.cat(
            [torch.full((len(part),), i, dtype=torch.long, device=x.device) for i, part in enumerate(parts)]
        )
        domain_logits = self.discriminator(GradientReversal.apply(domain_features, lambd))
        loss = loss + self.weight * self.domain_loss(domain_logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()
