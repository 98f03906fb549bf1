"""The StarGAN + CyCADA objectives of Valliani et al. (§5.3.3, eqs. 1–9).

Discriminator (eqs. 2, 3, 8), over real images ``x`` of domain ``c_x`` and translations ``G(x, c)`` into random
other domains ``c ≠ c_x``::

    L_D = −E[D_src(x)] + E[D_src(G(x, c))] + λ_gp · E[(‖∇_x̂ D_src(x̂)‖₂ − 1)²] + λ_cls · CE(D_cls(x), c_x)

with ``x̂`` uniform on the line between a real image and its translation (WGAN-GP, Gulrajani et al. 2017). ``D_src``
is a map of patch scores: the expectations average over images and patches, and the penalty's gradient is that of
the patch scores' sum per image (StarGAN's choice: every patch's gradient, summed, must have norm 1).

Generator (eqs. 1, 4, 5, 7, 9)::

    L_G = −E[D_src(G(x, c))] + λ_cls · CE(D_cls(G(x, c)), c) + λ_cyc · E|x − G(G(x, c), c_x)| + λ_sem · L_sem

the cycle term a mean absolute error over pixels (StarGAN's L1), and the CyCADA semantic consistency (Hoffman et al.
2018) through the frozen source classifier F_S and the target classifier F_T::

    L_sem = CE(F_S(G(G(x_s, c_t), c_s)), y_s) + CE(F_T(G(x_s, c_t)), y_s) + CE(F_S(G(x_t, c_s)), argmax F_T(x_t))

(the source cycled back, the source translated to a target domain, a target image translated to the source with
F_T's prediction as its label). The paper gives no weight for L_sem: ``λ_sem`` is a parameter, default 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

NORM_EPS = 1e-12  # inside the square root of the gradient norm: keeps its derivative finite at a zero gradient


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """``E[(‖∇_x̂ Σ critic(x̂)‖₂ − 1)²]`` per image, ``x̂ = α·real + (1 − α)·fake`` with one ``α`` per image
    (``alpha`` ``[N]`` in [0, 1]); the graph is kept (``create_graph``) so the penalty trains the critic."""
    a = alpha.to(real.dtype).reshape(-1, *([1] * (real.dim() - 1)))
    mixed = (a * real.detach() + (1.0 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + NORM_EPS)
    return (norm - 1.0).pow(2).mean()


@dataclass
class CriticLoss:
    """L_D and its parts (scalars; ``total`` carries the graph). ``adversarial`` is ``−E[D(x)] + E[D(G(x, c))]``:
    the negated estimate of the Wasserstein distance."""

    total: torch.Tensor
    adversarial: torch.Tensor
    penalty: torch.Tensor
    classification: torch.Tensor


def critic_loss(
    src_real: torch.Tensor,
    src_fake: torch.Tensor,
    cls_real: torch.Tensor,
    domains: torch.Tensor,
    penalty: torch.Tensor,
    *,
    lambda_gp: float,
    lambda_cls: float,
) -> CriticLoss:
    """L_D from D's outputs on real images (``src_real``, ``cls_real``; their domains ``domains``), on translations
    (``src_fake``) and the :func:`gradient_penalty`. Minimising it raises the real scores and lowers the fake ones."""
    adversarial = -src_real.float().mean() + src_fake.float().mean()
    classification = F.cross_entropy(cls_real.float(), domains)
    total = adversarial + lambda_gp * penalty + lambda_cls * classification
    return CriticLoss(total, adversarial, penalty, classification)


def cycle_loss(real: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """StarGAN's reconstruction loss ``E|x − G(G(x, c), c_x)|`` (mean over images and pixels)."""
    return (real - reconstructed).abs().mean()


@dataclass
class SemanticLoss:
    """L_sem and its three CyCADA terms (scalars)."""

    total: torch.Tensor
    cycled: torch.Tensor
    translated: torch.Tensor
    to_source: torch.Tensor


def semantic_loss(
    cycled_fs: torch.Tensor,
    translated_ft: torch.Tensor,
    labels: torch.Tensor,
    to_source_fs: torch.Tensor,
    target_ft: torch.Tensor,
) -> SemanticLoss:
    """L_sem from classifier logits: F_S on the cycled source images (``cycled_fs``), F_T on the source images
    translated to a target domain (``translated_ft``), both against the source ``labels``; F_S on target images
    translated to the source (``to_source_fs``) against ``argmax`` of F_T on those target images (``target_ft``,
    no gradient through the pseudo-labels)."""
    cycled = F.cross_entropy(cycled_fs.float(), labels)
    translated = F.cross_entropy(translated_ft.float(), labels)
    to_source = F.cross_entropy(to_source_fs.float(), target_ft.detach().argmax(dim=1))
    return SemanticLoss(cycled + translated + to_source, cycled, translated, to_source)


@dataclass
class GeneratorLoss:
    """L_G and its parts (scalars; ``total`` carries the graph)."""

    total: torch.Tensor
    adversarial: torch.Tensor
    classification: torch.Tensor
    cycle: torch.Tensor
    semantic: torch.Tensor


def generator_loss(
    src_fake: torch.Tensor,
    cls_fake: torch.Tensor,
    targets: torch.Tensor,
    cycle: torch.Tensor,
    semantic: torch.Tensor,
    *,
    lambda_cls: float,
    lambda_cyc: float,
    lambda_sem: float,
) -> GeneratorLoss:
    """L_G from D's outputs on the translations (``src_fake``, ``cls_fake``; their target domains ``targets``), the
    :func:`cycle_loss` and the :func:`semantic_loss` total."""
    adversarial = -src_fake.float().mean()
    classification = F.cross_entropy(cls_fake.float(), targets)
    total = adversarial + lambda_cls * classification + lambda_cyc * cycle + lambda_sem * semantic
    return GeneratorLoss(total, adversarial, classification, cycle, semantic)
