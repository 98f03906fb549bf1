"""DANN training (Ganin & Lempitsky 2015), as used by the DANN inter-semantic histopathology study.

Each step draws a labelled source batch and one batch from every adaptation domain; the label predictor is trained
on the source batch, and a domain classifier — attached to the feature extractor through a gradient reversal layer
(GRL) — learns to tell the domains apart while the reversed gradient makes the features domain-invariant. The GRL
coefficient follows ``λ_p = λ_max · (2 / (1 + exp(-γ p)) − 1)`` and the learning rate ``lr / (1 + α p)^β``, with
``p`` the training progress in [0, 1]. A non-finite loss or parameter fails the run as diverged
(:class:`~dabench.nn.training.DivergenceGuard`).

BatchNorm (``bn_mode``). Ganin's network has no BatchNorm; dabench's LeNet has BN layers, so how the domains' batches
pass through the feature extractor matters:

* ``"per_domain"`` (default): each domain's batch (the source batch, then one per adaptation domain) goes through the
  feature extractor in its own forward pass, so BN normalises every batch with its own domain's batch statistics,
  and the adaptation batches run with the BN layers' ``track_running_stats`` switched off
  (:func:`frozen_running_stats`): they use their batch statistics but leave the running averages — and
  ``num_batches_tracked`` — untouched. The running statistics used at test time are therefore those of the
  labelled source batches only, exactly what ``source_only`` accumulates. Switching the flag (rather than setting
  momentum 0 or saving and restoring buffers) copies nothing and is exact: PyTorch then neither passes nor updates
  the buffers. With the adversarial term off (``lambda_max = 0`` or ``domain_loss_weight = 0``) the trained label
  predictor is bit-identical to ``source_only`` with the same seed — the control of the DANN study's sweeps.
* ``"joint"`` (version 1's behaviour): source and adaptation batches are concatenated into one forward pass, so BN
  statistics (batch and running) mix main-task and adaptation data. That alone changes accuracy (MNIST → USPS:
  +9 points with the domain loss off), which is why it is no longer the default.

The domain classifier sees the features of all domains' batches together, in both modes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from dabench import AdaptationTask, Seeds, SpecError
from dabench.nn.models import FeatureClassifier, init_parameters
from dabench.nn.training import (
    DivergenceGuard,
    EpochProgress,
    IndexBatches,
    ModelPredictor,
    build_classifier,
    device_context,
    ganin_lr,
    offer_checkpoint,
    prepare_model,
    set_lr,
    sgd,
    steps_per_epoch,
    wants_checkpoint,
)

BN_MODES = ("per_domain", "joint")
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@contextlib.contextmanager
def frozen_running_stats(module: nn.Module) -> Iterator[None]:
    """Inside the block, BN layers of ``module`` in training mode normalise with batch statistics but do not update
    their running mean/variance or ``num_batches_tracked`` (``track_running_stats`` is switched off, then restored)."""
    layers = [m for m in module.modules() if isinstance(m, _BN)]
    before = [layer.track_running_stats for layer in layers]
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer, value in zip(layers, before, strict=True):
            layer.track_running_stats = value


def check_bn_mode(value: Any) -> str:
    """``value`` if it is a valid ``bn_mode``; otherwise a :class:`~dabench.SpecError` naming the choices."""
    if value not in BN_MODES:
        raise SpecError(
            f"dann parameter bn_mode={value!r} is not valid: use one of {', '.join(map(repr, BN_MODES))} "
            "(per_domain: one forward pass per domain, test-time BN statistics from the source only; joint: "
            "source and adaptation batches in one pass, version 1's behaviour)."
        )
    return str(value)


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
        self.bn_mode = check_bn_mode(self.params.get("bn_mode", "per_domain"))

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        p = self.params
        batch = int(p["batch_size"])
        model = prepare_model(build_classifier(task, p, seeds), device)
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
        per_epoch = steps_per_epoch(len(xs), batch)
        total = int(p["epochs"]) * per_epoch
        optimizer = sgd(nn.ModuleList([model, discriminator]), p)
        step_fn = DANNStep(
            model,
            discriminator,
            optimizer,
            float(p["domain_loss_weight"]),
            task.source_in_domains,
            bn_mode=self.bn_mode,
        )
        guard = DivergenceGuard(total)
        epochs = EpochProgress(total, int(p["epochs"]))
        model.train()
        discriminator.train()
        for step in range(total):
            progress = step / total
            set_lr(optimizer, ganin_lr(p["lr"], progress, p["lr_alpha"], p["lr_beta"]))
            index = next(source_batches)
            extra = [x[next(it)] for x, it in zip(domains, domain_batches, strict=True)]
            with device_context(device):  # bf16 autocast on CUDA, nothing on CPU
                loss = step_fn(xs[index], ys[index], extra, grl_lambda(progress, p["gamma"], p["lambda_max"]))
            guard.check(loss, step)
            epochs.step(step, loss)
            epoch = (step + 1) // per_epoch
            if (step + 1) % per_epoch == 0 and wants_checkpoint(epoch):  # model selection (no-op unless asked)
                guard.finish(model, discriminator)
                offer_checkpoint(epoch, model, device)
                model.train()
        guard.finish(model, discriminator)
        return ModelPredictor(model, device)


class DANNStep:
    """One DANN optimisation step on a labelled source batch and one batch per adaptation domain; ``bn_mode`` says
    how the batches pass through the feature extractor (see the module docstring)."""

    def __init__(
        self,
        model: FeatureClassifier,
        discriminator: nn.Module,
        optimizer: torch.optim.Optimizer,
        weight: float,
        source_in_domains: bool,
        *,
        bn_mode: str = "per_domain",
    ) -> None:
        self.model, self.discriminator, self.optimizer = model, discriminator, optimizer
        self.weight, self.source_in_domains = weight, source_in_domains
        self.bn_mode = check_bn_mode(bn_mode)
        self.class_loss, self.domain_loss = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()

    def features(self, x: torch.Tensor, domain_x: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Source features and one feature tensor per adaptation batch."""
        if self.bn_mode == "joint":
            features = self.model.features(torch.cat([x, *domain_x]) if domain_x else x)
            sizes = [len(x), *(len(d) for d in domain_x)]
            source, *rest = torch.split(features, sizes)
            return source, list(rest)
        source = self.model.features(x)
        with frozen_running_stats(self.model.features):
            return source, [self.model.features(d) for d in domain_x]

    def __call__(self, x: torch.Tensor, y: torch.Tensor, domain_x: list[torch.Tensor], lambd: float) -> torch.Tensor:
        source_features, domain_features = self.features(x, domain_x)
        loss = self.class_loss(self.model.classifier(source_features), y)
        parts = ([source_features] if self.source_in_domains else []) + domain_features
        labels = torch.cat(
            [torch.full((len(part),), i, dtype=torch.long, device=x.device) for i, part in enumerate(parts)]
        )
        domain_logits = self.discriminator(GradientReversal.apply(torch.cat(parts), lambd))
        loss = loss + self.weight * self.domain_loss(domain_logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()
