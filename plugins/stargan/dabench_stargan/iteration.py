"""Stage 2 of Valliani et al.'s method: one StarGAN + CyCADA training iteration (:func:`train_iteration`) and the loop
around it (:func:`train_gan`).

An iteration is ``n_critic`` discriminator steps (StarGAN's 5), one generator step and one step of the target
classifier F_T (every ``task_every`` generator steps; the paper: every step, every 10th for MNIST-M → USPS). Each
critic step has its own batch (:class:`CriticBatch`: ``per_domain`` images of every domain, the labelled source's
first, each with a random target domain different from its own and a gradient-penalty interpolation weight), as in
StarGAN, where each loop iteration draws a batch and every ``n_critic``-th also updates G; the generator step reuses
the last critic batch. So one iteration here is ``n_critic`` of StarGAN's loop iterations.

Domains. Domain 0 is the labelled source, then every other domain (:func:`dabench_stargan.method.stargan_domains`).
A source image's target domain is drawn uniformly over the other domains, i.e. over the non-source domains: with
more than two domains the source pairs with every other one. F_T learns the source translated into any of them, and
the semantic term on target images uses every non-source image, translated to the source.

Steps (losses: :mod:`dabench_stargan.losses`):

* critic: ``G(x, c)`` without gradient, D on the real and translated images in one forward pass (D has no
  normalisation, so rows do not interact), the gradient penalty on the interpolations in another, Adam step of D;
* generator: D and F_T are frozen for the step (their parameters get no gradient); one forward pass of G computes
  the translations ``G(x, c)`` and the non-source images translated to the source ``G(x_t, c_s)`` (InstanceNorm is
  per image, so rows do not interact), a second the reconstructions; F_S (frozen, eval mode) and F_T (eval mode:
  its BatchNorm running statistics, no update) give the semantic term; Adam step of G;
* F_T: ``CE(F_T(G(x_s, c_t)), y_s)`` on the generator step's translated source images (detached), F_T in training
  mode, Adam step.

Learning rates (:func:`gan_lr`): ``lr_gan`` for the first half of the iterations, then linearly toward zero (the
paper: 200K iterations, decay after 100K), for G, D and F_T alike. Everything runs in float32 (no autocast: the
gradient penalty differentiates D twice).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dabench import Seeds
from dabench.nn.training import DivergenceGuard, EpochProgress, IndexBatches, set_lr
from dabench_stargan.losses import CriticLoss, critic_loss, cycle_loss, generator_loss, gradient_penalty, semantic_loss
from dabench_stargan.networks import to_gan

SOURCE = 0  # the labelled source's domain index
HISTORY_KEYS = (
    "d_adversarial",
    "d_gradient_penalty",
    "d_classification",
    "g_adversarial",
    "g_classification",
    "g_cycle",
    "g_semantic",
)


def gan_lr(base: float, iteration: int, total: int) -> float:
    """``base`` for the first ``total // 2`` iterations, then linearly toward 0: ``base · (total − i) / (total −
    total // 2)`` at 0-based iteration ``i`` (the last one gets ``base / (total − total // 2)``)."""
    start = total // 2
    if iteration < start:
        return base
    return base * max(0, total - iteration) / max(1, total - start)


def unit(images: torch.Tensor) -> torch.Tensor:
    """G's ``[−1, 1]`` output as the ``[0, 1]`` images the classifiers take (no clamp: tanh stays inside)."""
    return (images + 1.0) * 0.5


@dataclass
class CriticBatch:
    """One critic step's batch: ``images`` ``[B, C, H, W]`` in ``[−1, 1]`` (the source's rows first), their domain
    indices ``domains``, target domains ``targets`` (≠ ``domains``), gradient-penalty weights ``alpha`` ``[B]`` and
    the source rows' class ``labels`` (``len(labels)`` source rows)."""

    images: torch.Tensor
    domains: torch.Tensor
    targets: torch.Tensor
    alpha: torch.Tensor
    labels: torch.Tensor

    @property
    def n_source(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class IterationBatch:
    """The ``n_critic`` critic batches of one iteration; the generator step uses the last."""

    critic: list[CriticBatch]


class BatchSampler:
    """Draws :class:`IterationBatch` es from every domain's images (``[0, 1]``, on ``device``; domain 0 the
    labelled source with ``labels``): ``per_domain`` images of each (fewer for a smaller domain) from its own seeded
    :class:`~dabench.nn.training.IndexBatches` (seed ``loader-domain-<i>``), target domains from the
    ``domain-codes`` seed and interpolation weights from the ``gradient-penalty`` seed."""

    def __init__(
        self,
        domains: Sequence[torch.Tensor],
        labels: torch.Tensor,
        *,
        per_domain: int,
        n_critic: int,
        seeds: Seeds,
        device: torch.device,
    ) -> None:
        self.domains, self.labels, self.n_critic, self.device = list(domains), labels, int(n_critic), device
        self.batches = [
            iter(IndexBatches(len(x), per_domain, seeds.torch(f"loader-domain-{i}"), device))
            for i, x in enumerate(self.domains)
        ]
        sizes = [min(per_domain, len(x)) for x in self.domains]
        self.domain_ids = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)]).to(device)
        self.codes, self.alpha = seeds.torch("domain-codes"), seeds.torch("gradient-penalty")

    def critic_batch(self) -> CriticBatch:
        index = [next(it) for it in self.batches]
        images = to_gan(torch.cat([x[i] for x, i in zip(self.domains, index, strict=True)]))
        n, k = len(self.domain_ids), len(self.domains)
        shift = torch.randint(1, k, (n,), generator=self.codes).to(self.device)
        alpha = torch.rand(n, generator=self.alpha).to(self.device)
        return CriticBatch(images, self.domain_ids, (self.domain_ids + shift) % k, alpha, self.labels[index[0]])

    def __call__(self) -> IterationBatch:
        return IterationBatch([self.critic_batch() for _ in range(self.n_critic)])


@dataclass
class GanState:
    """What stage 2 trains: G, D, the frozen F_S, F_T, their Adam optimisers, the loss weights and the number of
    iterations done."""

    generator: nn.Module
    discriminator: nn.Module
    source_classifier: nn.Module
    target_classifier: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    opt_t: torch.optim.Optimizer
    n_domains: int
    lambda_gp: float = 10.0
    lambda_cls: float = 1.0
    lambda_cyc: float = 10.0
    lambda_sem: float = 1.0
    task_every: int = 1
    iteration: int = 0
    codes: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.codes = torch.eye(self.n_domains, device=next(self.generator.parameters()).device)

    @classmethod
    def create(
        cls, generator: nn.Module, discriminator: nn.Module, source_classifier: nn.Module, params: Mapping[str, Any]
    ) -> GanState:
        """F_S frozen (``requires_grad`` off, eval mode), F_T a copy of it (eval mode outside its own steps), Adam
        ``(beta1, beta2)`` at ``lr_gan`` for G, D and F_T; the weights and ``task_every`` from ``params``."""
        target = copy.deepcopy(source_classifier).eval()
        source_classifier.requires_grad_(False).eval()
        betas = (float(params["beta1"]), float(params["beta2"]))
        lr = float(params["lr_gan"])

        def adam(module: nn.Module) -> torch.optim.Adam:
            return torch.optim.Adam(module.parameters(), lr=lr, betas=betas)

        n_domains = int(generator.n_domains)  # type: ignore[arg-type]
        return cls(
            generator, discriminator, source_classifier, target,
            adam(generator), adam(discriminator), adam(target), n_domains,
            lambda_gp=float(params["lambda_gp"]), lambda_cls=float(params["lambda_cls"]),
            lambda_cyc=float(params["lambda_cyc"]), lambda_sem=float(params["lambda_sem"]),
            task_every=int(params["task_every"]),
        )  # fmt: skip

    def set_lr(self, lr: float) -> None:
        for optimizer in (self.opt_g, self.opt_d, self.opt_t):
            set_lr(optimizer, lr)


def critic_step(state: GanState, batch: CriticBatch) -> CriticLoss:
    """One Adam step of D on ``batch``; the detached loss parts."""
    g, d = state.generator, state.discriminator
    with torch.no_grad():
        fake = g(batch.images, state.codes[batch.targets])
    src, cls = d(torch.cat([batch.images, fake]))
    n = len(batch.images)
    penalty = gradient_penalty(lambda x: d(x)[0], batch.images, fake, batch.alpha)
    loss = critic_loss(
        src[:n], src[n:], cls[:n], batch.domains, penalty, lambda_gp=state.lambda_gp, lambda_cls=state.lambda_cls
    )
    state.opt_d.zero_grad(set_to_none=True)
    loss.total.backward()
    state.opt_d.step()
    return CriticLoss(*(t.detach() for t in (loss.total, loss.adversarial, loss.penalty, loss.classification)))


def generator_step(state: GanState, batch: CriticBatch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One Adam step of G on ``batch`` (D and F_T frozen meanwhile); the detached loss parts and the translated
    source images (``[−1, 1]``, detached) for F_T's step."""
    g, d, f_s, f_t = state.generator, state.discriminator, state.source_classifier, state.target_classifier
    x, ns, n = batch.images, batch.n_source, len(batch.images)
    rest = x[ns:]
    d.requires_grad_(False)
    f_t.requires_grad_(False)
    try:
        codes = torch.cat([state.codes[batch.targets], state.codes[SOURCE].expand(len(rest), -1)])
        out = g(torch.cat([x, rest]), codes)
        fake, to_source = out[:n], out[n:]
        reconstructed = g(fake, state.codes[batch.domains])
        src, cls = d(fake)
        with torch.no_grad():
            target_logits = f_t(unit(rest))
        semantic = semantic_loss(
            f_s(unit(reconstructed[:ns])), f_t(unit(fake[:ns])), batch.labels, f_s(unit(to_source)), target_logits
        )
        loss = generator_loss(
            src,
            cls,
            batch.targets,
            cycle_loss(x, reconstructed),
            semantic.total,
            lambda_cls=state.lambda_cls,
            lambda_cyc=state.lambda_cyc,
            lambda_sem=state.lambda_sem,
        )
        state.opt_g.zero_grad(set_to_none=True)
        loss.total.backward()
        state.opt_g.step()
    finally:
        d.requires_grad_(True)
        f_t.requires_grad_(True)
    parts = {
        "g_total": loss.total,
        "g_adversarial": loss.adversarial,
        "g_classification": loss.classification,
        "g_cycle": loss.cycle,
        "g_semantic": loss.semantic,
    }
    return {k: v.detach() for k, v in parts.items()}, fake[:ns].detach()


def target_step(state: GanState, translated: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One Adam step of F_T (training mode) on translated source images (``[−1, 1]``) with the source labels."""
    f_t = state.target_classifier
    f_t.train()
    loss = F.cross_entropy(f_t(unit(translated)).float(), labels)
    state.opt_t.zero_grad(set_to_none=True)
    loss.backward()
    state.opt_t.step()
    f_t.eval()
    return loss.detach()


def train_iteration(state: GanState, batch: IterationBatch) -> dict[str, torch.Tensor]:
    """``n_critic`` critic steps (one per critic batch), one generator step on the last, and F_T's step when the
    iteration is a multiple of ``task_every``; detached losses: the :data:`HISTORY_KEYS` (D's averaged over its
    steps), ``f_t`` (0 when F_T did not step) and ``total`` (D's mean total + G's total + ``f_t``)."""
    critic = [critic_step(state, b) for b in batch.critic]
    losses = {
        "d_adversarial": torch.stack([c.adversarial for c in critic]).mean(),
        "d_gradient_penalty": torch.stack([c.penalty for c in critic]).mean(),
        "d_classification": torch.stack([c.classification for c in critic]).mean(),
    }
    d_total = torch.stack([c.total for c in critic]).mean()
    g_parts, translated = generator_step(state, batch.critic[-1])
    losses.update({key: value for key, value in g_parts.items() if key != "g_total"})
    state.iteration += 1
    f_t = torch.zeros((), device=d_total.device)
    if state.iteration % state.task_every == 0:
        f_t = target_step(state, translated, batch.critic[-1].labels)
    losses["f_t"] = f_t
    losses["total"] = d_total + g_parts["g_total"] + f_t
    return losses


class LossHistory:
    """Means of the :data:`HISTORY_KEYS` over windows of ``every`` iterations (accumulated on the device, converted
    once per window), with the window's last iteration (1-based) under ``iteration``."""

    def __init__(self, every: int) -> None:
        self.every = max(1, int(every))
        self.values: dict[str, list[float]] = {"iteration": [], **{key: [] for key in HISTORY_KEYS}}
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0

    def add(self, losses: Mapping[str, torch.Tensor], iteration: int, *, last: bool = False) -> None:
        """Add 1-based ``iteration``'s losses; close the window at a multiple of ``every`` or the ``last`` one."""
        for key in HISTORY_KEYS:
            self._sums[key] = self._sums[key] + losses[key] if key in self._sums else losses[key].clone()
        self._count += 1
        if iteration % self.every == 0 or last:
            self.values["iteration"].append(float(iteration))
            for key in HISTORY_KEYS:
                self.values[key].append(float(self._sums[key]) / self._count)
            self._sums, self._count = {}, 0


def train_gan(
    state: GanState,
    sampler: Callable[[], IterationBatch],
    *,
    iterations: int,
    lr: float,
    log_every: int,
) -> dict[str, list[float]]:
    """Stage 2: ``iterations`` calls of :func:`train_iteration` with :func:`gan_lr`; a non-finite loss or parameter
    fails the run as diverged (:class:`~dabench.nn.training.DivergenceGuard`). Returns the loss history."""
    guard = DivergenceGuard(iterations)
    progress = EpochProgress(iterations, math.ceil(iterations / max(1, log_every)))
    history = LossHistory(log_every)
    state.generator.train()
    state.discriminator.train()
    for i in range(iterations):
        state.set_lr(gan_lr(lr, i, iterations))
        losses = train_iteration(state, sampler())
        guard.check(losses["total"], i)
        progress.step(i, losses["total"])
        history.add(losses, i + 1, last=i + 1 == iterations)
    guard.finish(state.generator, state.discriminator, state.target_classifier)
    return history.values
