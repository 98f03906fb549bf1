"""Training of the multi-level adversarial network (``mlan``): losses, the three kinds of step, the staged schedule.

Networks (:func:`build_networks`): G = :class:`dabench.nn.resnet_unet.ResNetUNet` (ResNet-34 encoder from the
``init`` seed, or ``weights``) and the variant's discriminators (:mod:`dabench_mlan.discriminators`, each from its
own ``init-D<key>`` seeds). Images enter G as the harness gives them (float in [0, 1], no normalisation layer: the
stem's BatchNorm follows conv1).

Losses, all binary cross-entropy with logits in float32 (:func:`two_group_bce`, the sign of a loss):

* ``L_seg``: BCE of G's foreground logit against the masks, mean over the labelled pixels — the source batch (UDA),
  or the source and the target batch (SDA: "we train G with {(XS, YS), (XT, YT)}", §2.2);
* ``L_De``, ``L_Dd`` (eq. 1–2) and the baselines' conventional discriminators: ``mean_S BCE(D, 1) + mean_T BCE(D,
  0)`` — the equations' two expectations, source = 1, target = 0;
* ``L_Ds`` (eq. 3): ``mean BCE(Ds(y), 1) + mean BCE(Ds(σ(G(x))), 0)`` — real = the batch's ground-truth masks (source
  masks in UDA, source and target in SDA), fake = G's probability maps of BOTH domains' batches.

Each discriminator minimises its BCE on detached maps (one Adam over all of them: Adam is element-wise, so this is
one Adam per discriminator). G minimises eq. 4, ``L_full = L_seg − Σ α_k · L_k``, with the discriminators' BCE
recomputed on non-detached maps after their step: the minimax as written, G maximises the discriminators' loss (for
``L_Ds`` only the fake term depends on G). A term with α = 0 is not computed (its gradient is exactly 0).

A step draws ``batch_size`` source and ``batch_size`` target images (:class:`Batch`); G sees both in ONE forward
pass (BatchNorm statistics of the mixed batch, as the DANN/MDD references), a discriminator likewise sees source and
target maps (or real and fake masks) in one pass. Steps (:func:`generator_step`, :func:`discriminator_step`,
:func:`adversarial_step`, the last shared with ``tools/bench/mlan_overhead.py``):

* G stage (``g_epochs``, s0): G alone on ``L_seg`` (labelled images only);
* discriminator stage (``d_epochs``, d0): G's maps without gradients, the discriminators alone. G stays in training
  mode, so the maps are normalised as in the adversarial stage (its BatchNorm running averages keep tracking; its
  parameters do not change);
* adversarial stage (``adv_epochs``): per iteration one discriminator step, then one G step with ``L_full`` (the
  same G forward pass serves both: G has not changed in between).

``discriminators=none`` (Origin) runs ``g_epochs + adv_epochs`` epochs of the G step, so it makes as many G updates
as the adversarial variants. Adam (lr ``lr``, betas (0.9, 0.999)) for G and the discriminators; an epoch is one pass
over the source train images. At the end of every adversarial-stage epoch (for ``none``: every epoch after the
first ``g_epochs``), numbered globally (``g_epochs + d_epochs + k``; ``g_epochs + k`` for ``none``), the model is
offered as a checkpoint when the run asks for them. A non-finite loss or parameter fails the run as diverged.
Forward passes run in :func:`~dabench.nn.training.device_context` (bf16 autocast on CUDA).

References
----------
Multi-level adversarial network for domain adaptive glomeruli segmentation (arXiv 2002.08587): eq. 1–4 (§2.1),
the training strategy (§2.2), the settings (§3.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dabench import AdaptationTask, Seeds, SpecError
from dabench.nn.resnet import ARCHITECTURES
from dabench.nn.resnet_unet import ResNetUNet, TwoClassLogits
from dabench.nn.training import (
    DivergenceGuard,
    EpochProgress,
    IndexBatches,
    ModelPredictor,
    device_context,
    offer_checkpoint,
    prepare_model,
    steps_per_epoch,
    wants_checkpoint,
)
from dabench_mlan import ALPHA_OF, VARIANTS, check_variant
from dabench_mlan.discriminators import build_discriminator

BETAS = (0.9, 0.999)
Maps = Mapping[str, torch.Tensor]


@dataclass
class Batch:
    """One step's images and masks (float {0, 1} ``[n, H, W]``); ``yt`` only under supervised DA."""

    xs: torch.Tensor
    ys: torch.Tensor
    xt: torch.Tensor
    yt: torch.Tensor | None = None

    def images(self) -> torch.Tensor:
        """Source then target images, for G's joint forward pass."""
        return torch.cat([self.xs, self.xt])

    def labelled_images(self) -> torch.Tensor:
        """The images with masks: the source batch (UDA) or source then target (SDA)."""
        return self.xs if self.yt is None else self.images()

    def masks(self) -> torch.Tensor:
        """The masks of :meth:`labelled_images`, ``[m, H, W]``."""
        return self.ys if self.yt is None else torch.cat([self.ys, self.yt])

    def labelled_rows(self, logit: torch.Tensor) -> torch.Tensor:
        """The rows of a joint (source + target) logit that have masks."""
        return logit if self.yt is not None else logit[: len(self.xs)]


@dataclass
class Networks:
    """G, the variant's discriminators by key (``s``, ``e``, ``d``, ``f4``, ``f9``, ``afc``) and their α."""

    generator: ResNetUNet
    discriminators: nn.ModuleDict
    alphas: dict[str, float]

    def modules(self) -> list[nn.Module]:
        """G then the discriminators."""
        return [self.generator, *self.discriminators.values()]


@dataclass
class Optimizers:
    """Adam for G; one Adam over every discriminator (None for ``none``)."""

    generator: torch.optim.Optimizer
    discriminators: torch.optim.Optimizer | None


@dataclass
class StepLosses:
    """Detached losses of one step (0 where a stage has no such loss) and their sum, for the divergence guard."""

    seg: torch.Tensor
    discriminators: torch.Tensor
    full: torch.Tensor

    def combined(self) -> torch.Tensor:
        return self.seg + self.discriminators + self.full


def two_group_bce(logits: torch.Tensor, n_positive: int) -> torch.Tensor:
    """``mean BCE(logits[:n], 1) + mean BCE(logits[n:], 0)`` (eq. 1–3 as losses), in float32."""
    z = logits.float()
    return F.softplus(-z[:n_positive]).mean() + F.softplus(z[n_positive:]).mean()


def segmentation_loss(logit: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """L_seg: BCE with logits of ``[m, 1, H, W]`` against float masks ``[m, H, W]``, mean over pixels."""
    return F.binary_cross_entropy_with_logits(logit[:, 0].float(), masks)


def discriminator_losses(
    nets: Networks, logit: torch.Tensor, maps: Maps, batch: Batch, keys: tuple[str, ...] | None = None
) -> dict[str, torch.Tensor]:
    """Each discriminator's BCE (those of ``keys``, default all) on G's joint-pass ``logit`` and ``maps`` (detach
    them for a discriminator step)."""
    losses = {}
    for key in tuple(nets.discriminators) if keys is None else keys:
        disc = nets.discriminators[key]
        if key == "s":
            real = batch.masks()[:, None].to(logit.dtype)
            losses[key] = two_group_bce(disc(torch.cat([real, torch.sigmoid(logit)])), len(real))
        else:
            losses[key] = two_group_bce(disc(maps), len(batch.xs))
    return losses


def generator_loss(
    nets: Networks, logit: torch.Tensor, maps: Maps, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """``(L_full, L_seg, {key: L_k})`` on non-detached maps: ``L_full = L_seg − Σ α_k L_k`` (terms with α = 0 are
    left out)."""
    seg = segmentation_loss(batch.labelled_rows(logit), batch.masks())
    keys = tuple(k for k in nets.discriminators if nets.alphas[k] != 0.0)
    parts = discriminator_losses(nets, logit, maps, batch, keys)
    full = seg
    for key, loss in parts.items():
        full = full - nets.alphas[key] * loss
    return full, seg, parts


def _update_discriminators(
    nets: Networks,
    optimizer: torch.optim.Optimizer,
    logit: torch.Tensor,
    maps: Maps,
    batch: Batch,
    device: torch.device,
) -> torch.Tensor:
    """One step of every discriminator on detached maps; their summed BCE (detached)."""
    with device_context(device):
        losses = discriminator_losses(nets, logit.detach(), {k: v.detach() for k, v in maps.items()}, batch)
    total = torch.stack(list(losses.values())).sum()
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return total.detach()


def generator_step(nets: Networks, optimizer: torch.optim.Optimizer, batch: Batch, device: torch.device) -> StepLosses:
    """G alone: one Adam step on L_seg over the labelled images (the G stage, and ``none`` throughout)."""
    with device_context(device):
        seg = segmentation_loss(nets.generator(batch.labelled_images()), batch.masks())
    optimizer.zero_grad(set_to_none=True)
    seg.backward()
    optimizer.step()
    zero = torch.zeros((), device=seg.device)
    return StepLosses(seg.detach(), zero, zero)


def discriminator_step(
    nets: Networks, optimizer: torch.optim.Optimizer, batch: Batch, device: torch.device
) -> StepLosses:
    """The discriminators alone on G's maps (no gradient into G): the discriminator stage."""
    with torch.no_grad(), device_context(device):
        logit, maps = nets.generator.forward_maps(batch.images())
    total = _update_discriminators(nets, optimizer, logit, maps, batch, device)
    zero = torch.zeros((), device=total.device)
    return StepLosses(zero, total, zero)


def adversarial_step(nets: Networks, optimizers: Optimizers, batch: Batch, device: torch.device) -> StepLosses:
    """One alternating iteration: a step of every discriminator on detached maps, then a G step on ``L_full`` with
    the updated discriminators (the same forward pass of G; gradients into G's parameters only)."""
    assert optimizers.discriminators is not None, "an adversarial step needs discriminators"
    with device_context(device):
        logit, maps = nets.generator.forward_maps(batch.images())
    d_total = _update_discriminators(nets, optimizers.discriminators, logit, maps, batch, device)
    with device_context(device):
        full, seg, _ = generator_loss(nets, logit, maps, batch)
    optimizers.generator.zero_grad(set_to_none=True)
    full.backward(inputs=list(nets.generator.parameters()))
    optimizers.generator.step()
    return StepLosses(seg.detach(), d_total, full.detach())


def build_networks(task: AdaptationTask, params: Mapping[str, Any], seeds: Seeds) -> Networks:
    """G for ``task`` and the discriminators of ``params["discriminators"]`` with their α (CPU, seeded)."""
    channels, height, width = task.input_shape
    generator = ResNetUNet(
        channels, encoder=str(params["encoder"]), weights=str(params["weights"]), seed=seeds.int("init")
    )
    sizes = ResNetUNet.map_sizes(height, width)
    keys = VARIANTS[check_variant(params["discriminators"])]
    discriminators = nn.ModuleDict(
        {
            key: build_discriminator(
                key,
                generator.channels,
                sizes,
                seed=seeds.int(f"init-D{key}"),
                generator=seeds.torch(f"init-D{key}/layers"),
            )
            for key in keys
        }
    )
    return Networks(generator, discriminators, {key: float(params[ALPHA_OF[key]]) for key in keys})


def build_optimizers(nets: Networks, lr: float) -> Optimizers:
    """Adam (``lr``, betas (0.9, 0.999)) for G and one over all discriminators (None without any)."""
    disc = list(nets.discriminators.parameters())
    return Optimizers(
        torch.optim.Adam(nets.generator.parameters(), lr=lr, betas=BETAS),
        torch.optim.Adam(disc, lr=lr, betas=BETAS) if disc else None,
    )


def schedule(params: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """Per epoch, ``(kind, offers a checkpoint)``: kind ``g``, ``d`` or ``adv`` (module docstring)."""
    g, d, adv = int(params["g_epochs"]), int(params["d_epochs"]), int(params["adv_epochs"])
    if not VARIANTS[check_variant(params["discriminators"])]:
        return [("g", False)] * g + [("g", True)] * adv
    return [("g", False)] * g + [("d", False)] * d + [("adv", True)] * adv


def check_weights(value: Any, encoder: str = "resnet34") -> str:
    """``value`` as a path string ("" = from scratch); a :class:`~dabench.SpecError` when the file is missing."""
    path = str(value)
    if path and not Path(path).expanduser().is_file():
        raise SpecError(
            f"mlan parameter weights={path!r}: no such file. Give a local torchvision {encoder} state dict (saved "
            f"with torch.save(torchvision.models.{encoder}().state_dict(), PATH)) for the encoder, or leave weights "
            "empty to train it from scratch."
        )
    return path


def check_task(task: AdaptationTask) -> None:
    """A foreground segmentation task (two classes) or a :class:`~dabench.SpecError` saying what to use."""
    if task.task_type != "segmentation":
        raise SpecError(f"mlan is a segmentation method; this task is {task.task_type!r}.")
    if task.num_classes != 2:
        raise SpecError(
            f"mlan segments one foreground (a logit per pixel) but this task has {task.num_classes} classes; use a "
            "foreground protocol that binarises the masks (e.g. --protocol foreground_uda or foreground_sda)."
        )


class MLAN:
    """The ``mlan`` method; see the module docstring."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)
        self.variant = check_variant(self.params["discriminators"])
        if self.params["encoder"] not in ARCHITECTURES:
            raise SpecError(
                f"mlan parameter encoder={self.params['encoder']!r} is not valid: use one of "
                f"{', '.join(ARCHITECTURES)}."
            )
        self.params["weights"] = check_weights(self.params.get("weights", ""), str(self.params["encoder"]))
        if not schedule(self.params):
            raise SpecError("mlan has nothing to train: set g_epochs, d_epochs or adv_epochs above 0.")

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        check_task(task)
        p, epochs = self.params, schedule(self.params)
        nets = build_networks(task, p, seeds)
        for module in nets.modules():
            prepare_model(module, device).train()
        optimizers = build_optimizers(nets, float(p["lr"]))
        batch_size = int(p["batch_size"])
        xs, ys = task.source.images.to(device), task.source.labels.to(device).float()
        labelled = task.target_labeled
        if labelled is not None:
            xt, yt = labelled.images.to(device), labelled.labels.to(device).float()
        else:
            xt, yt = task.unlabeled[task.adapt_domain].images.to(device), None
        source = iter(IndexBatches(len(xs), batch_size, seeds.torch("loader"), device))
        target = iter(IndexBatches(len(xt), batch_size, seeds.torch("loader-target"), device))
        per_epoch = steps_per_epoch(len(xs), batch_size)
        guard = DivergenceGuard(len(epochs) * per_epoch)
        progress = EpochProgress(len(epochs) * per_epoch, len(epochs))
        for epoch, (kind, offers) in enumerate(epochs, start=1):
            for i in range(per_epoch):
                step = (epoch - 1) * per_epoch + i
                si, ti = next(source), next(target)  # a UDA G step leaves the target batch unused
                batch = Batch(xs[si], ys[si], xt[ti], None if yt is None else yt[ti])
                if kind == "g":
                    losses = generator_step(nets, optimizers.generator, batch, device)
                elif kind == "d":
                    assert optimizers.discriminators is not None
                    losses = discriminator_step(nets, optimizers.discriminators, batch, device)
                else:
                    losses = adversarial_step(nets, optimizers, batch, device)
                guard.check(losses.combined(), step)
                progress.step(step, losses.full if kind == "adv" else losses.combined())
            if offers and wants_checkpoint(epoch):
                guard.finish(*nets.modules())  # a kept checkpoint must be finite
                offer_checkpoint(epoch, TwoClassLogits(nets.generator), device)
        guard.finish(*nets.modules())
        return ModelPredictor(TwoClassLogits(nets.generator), device)
