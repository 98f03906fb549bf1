"""MDD training (Zhang, Liu, Long & Jordan 2019) as the blood-cell paper uses it.

Model (:class:`MDDNet`): per-channel normalisation with the source train split's mean and standard deviation
(buffers) → ψ = ResNet-18 features (:func:`dabench.nn.resnet.resnet18_features`, from scratch unless ``weights``)
→ bottleneck Linear(512, ``bottleneck``) + BatchNorm1d + ReLU + Dropout → main head f = Linear(``bottleneck``,
classes). The adversarial head f′ = Linear(``bottleneck``, 1024) + ReLU + Dropout + Linear(1024, classes), the MDD
reference design's auxiliary classifier (the reference's f is the same two-layer MLP; here f is linear), sits
behind a gradient reversal layer (GRL) whose coefficient warms up as
``c(i) = 2 (hi − lo) / (1 + exp(−α i / max_iters)) − (hi − lo) + lo`` (:func:`grl_coefficient`, i = optimisation
step: ``lo`` at 0, → ``hi``). The module's ``features`` (normalisation + ψ + bottleneck) and ``classifier`` (f) are
what the runner's validators and benefit predictors see; f′ is used in training only.

Loss (:func:`mdd_loss`), with ŷ = argmax f(ψ(x)) (no gradient through the argmax)::

    L = CE_w(f(ψ(x_s)), y_s) + η · [γ · CE(f′(ψ(x_s)), ŷ_s) − log(1 − softmax(f′(ψ(x_t)))[ŷ_t])]

CE_w is PyTorch's class-weighted cross-entropy (``Σ w_y ℓ / Σ w_y`` over the batch) with weights ∝ 1 / class
frequency in the source train split, normalised to mean 1 over the classes present (absent classes weigh 0);
η = ``trade_off``, γ = ``margin``; the log is ``log(clamp(1 − p, min=1e-6))``. f′ minimises the bracket (agree with
f on the source, disagree on the target: the margin disparity), ψ receives the bracket's gradient reversed and
scaled by c(i) (it minimises the disparity), f receives none of it.

Training: SGD with momentum 0.9, weight decay 5e-4 and Nesterov momentum (the MDD reference's optimiser: the paper
gives only the schedule), learning rate ``lr`` × ``lr_gamma`` every ``lr_step`` epochs; each step draws ``batch_size``
source and ``batch_size`` target images, both augmented (:mod:`dabench_mdd.augment`, ``augment``), and passes them
through the network in one forward pass (the reference's concatenated batch, so BatchNorm statistics mix the
domains); an epoch is one pass over the source. Heads are initialised like PyTorch's defaults from the ``init``
seed (the reference's small-normal head initialisation is not used); dropout masks come from seeded generators
(:class:`SeededDropout`), so two fits with the same seeds are identical. A non-finite loss or parameter fails the
run as diverged (:class:`~dabench.nn.training.DivergenceGuard`). At the end of every epoch the model (f′ left out)
is offered to the runner as a checkpoint when the run asks for checkpoints (``offer_predictor``); the final model
is the ``last`` one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dabench import AdaptationTask, Seeds, SpecError
from dabench.nn.models import FeatureClassifier, init_parameters
from dabench.nn.resnet import resnet18_features
from dabench.nn.training import (
    DivergenceGuard,
    EpochProgress,
    IndexBatches,
    ModelPredictor,
    device_context,
    offer_predictor,
    prepare_model,
    set_lr,
    steps_per_epoch,
    wants_checkpoint,
)
from dabench_mdd.augment import PAPER_CROP, PAPER_SIZE, PaperAugment

ADVERSARY_WIDTH = 1024  # f′'s hidden layer, as in the MDD reference
LOG_FLOOR = 1e-6
EVAL_PIXELS = 1 << 22  # pixels per evaluation chunk: 1024 images of 64 px, 83 of 224 px


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient times ``−coefficient`` backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coefficient: float) -> torch.Tensor:
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.neg() * ctx.coefficient, None


def grl_coefficient(
    step: float, *, alpha: float = 1.0, lo: float = 0.0, hi: float = 0.1, max_iters: float = 1000
) -> float:
    """The warm-start GRL coefficient ``2 (hi − lo) / (1 + exp(−α i / max_iters)) − (hi − lo) + lo``."""
    z = alpha * step / max_iters
    sigmoid = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return 2.0 * (hi - lo) * sigmoid - (hi - lo) + lo


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Weights ∝ 1 / class frequency of ``labels``, mean 1 over the classes present, 0 for absent ones (float32)."""
    counts = torch.bincount(labels.long().cpu(), minlength=num_classes)[:num_classes].double()
    present = counts > 0
    weights = torch.where(present, 1.0 / counts.clamp(min=1), torch.zeros_like(counts))
    return (weights / weights[present].mean()).float()


class Normalise(nn.Module):
    """``(x − mean) / std`` per channel, with the statistics as buffers. With ``eval_crop`` (training with the
    paper's augmentations), an evaluated image is first centre-cropped to the paper's 224/360 of its side and resized
    back: the training crops (345/360, then 224/345, resized to the input size) show objects at that scale, so the
    test images must too — without it they are seen 1.6× smaller than in training."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, *, eval_crop: bool = False) -> None:
        super().__init__()
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).float().clone())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).float().clone())
        self.eval_crop = eval_crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.eval_crop and not self.training:
            h, w = x.shape[-2:]
            ch, cw = max(1, round(h * PAPER_CROP / PAPER_SIZE)), max(1, round(w * PAPER_CROP / PAPER_SIZE))
            top, left = (h - ch) // 2, (w - cw) // 2
            x = F.interpolate(x[..., top : top + ch, left : left + cw], size=(h, w), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) standard deviation of ``[N, C, H, W]`` images, accumulated in float64
    over chunks; the deviation is floored at 1e-6."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for i in range(0, len(images), chunk):
        part = images[i : i + chunk].to("cpu", torch.float64)
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean * mean).clamp(min=0).sqrt().clamp(min=1e-6)
    return mean.float(), std.float()


class SeededDropout(nn.Module):
    """Dropout whose masks come from its own generator, seeded from the run's seeds (``nn.Dropout`` draws from the
    global RNG); the generator is made on the input's device at the first training pass."""

    def __init__(self, p: float, seed: int) -> None:
        super().__init__()
        self.p, self.seed = float(p), int(seed)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.generator is None or self.generator.device != x.device:
            self.generator = torch.Generator(device=x.device).manual_seed(self.seed)
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x.masked_fill(~keep, 0.0) * (1.0 / (1.0 - self.p))

    def __deepcopy__(self, memo: dict[int, Any]) -> SeededDropout:
        """A copy (a checkpoint's) restarts from the seed; generators, CUDA ones included, are not copied."""
        twin = SeededDropout(self.p, self.seed)
        twin.train(self.training)
        memo[id(self)] = twin
        return twin

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MDDNet(nn.Module):
    """Normalisation → ResNet-18 → bottleneck (``features``), main head f (``classifier``), adversarial head f′
    (``adversary``); ``forward`` is ``classifier(features(x))``."""

    def __init__(
        self,
        backbone: nn.Module,
        backbone_dim: int,
        num_classes: int,
        mean: torch.Tensor,
        std: torch.Tensor,
        *,
        bottleneck: int = 1024,
        dropout: float = 0.5,
        dropout_seeds: tuple[int, int] = (0, 1),
        eval_crop: bool = False,
    ) -> None:
        super().__init__()
        neck = nn.Sequential(
            nn.Linear(backbone_dim, bottleneck),
            nn.BatchNorm1d(bottleneck),
            nn.ReLU(),
            SeededDropout(dropout, dropout_seeds[0]),
        )
        self.features = nn.Sequential(Normalise(mean, std, eval_crop=eval_crop), backbone, neck)
        self.classifier = nn.Linear(bottleneck, num_classes)
        self.adversary = nn.Sequential(
            nn.Linear(bottleneck, ADVERSARY_WIDTH),
            nn.ReLU(),
            SeededDropout(dropout, dropout_seeds[1]),
            nn.Linear(ADVERSARY_WIDTH, num_classes),
        )
        self.feature_dim = bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_model(task: AdaptationTask, params: Mapping[str, Any], seeds: Seeds) -> MDDNet:
    """:class:`MDDNet` for ``task``: normalisation statistics from ``task.source``, the backbone from the
    ``init-backbone`` seed (and ``weights``), the bottleneck and both heads from the ``init`` seed, dropout masks from
    the ``dropout`` and ``dropout-adversary`` seeds."""
    backbone, dim = resnet18_features(
        task.input_shape[0], weights=str(params["weights"]), seed=seeds.int("init-backbone")
    )
    mean, std = channel_stats(task.source.images)
    model = MDDNet(
        backbone,
        dim,
        task.num_classes,
        mean,
        std,
        bottleneck=int(params["bottleneck"]),
        dropout=float(params["dropout"]),
        dropout_seeds=(seeds.int("dropout"), seeds.int("dropout-adversary")),
        eval_crop=bool(params.get("augment", True)),
    )
    heads = nn.ModuleList([model.features[2], model.classifier, model.adversary])
    init_parameters(heads, seeds.torch("init"))
    return model


def step_lr(base: float, epoch: int, step: int, gamma: float) -> float:
    """The paper's schedule: ``base · gamma^(epoch // step)``."""
    return base * gamma ** (epoch // step)


def mdd_optimizer(model: nn.Module, params: Mapping[str, Any]) -> torch.optim.SGD:
    """SGD with Nesterov momentum (when ``momentum > 0``) and weight decay, as in the MDD reference."""
    momentum = float(params["momentum"])
    return torch.optim.SGD(
        model.parameters(),
        lr=float(params["lr"]),
        momentum=momentum,
        weight_decay=float(params["weight_decay"]),
        nesterov=momentum > 0,
    )


@dataclass
class MDDLoss:
    """The loss and its parts (all scalars; ``total`` carries the graph)."""

    total: torch.Tensor
    classification: torch.Tensor
    adversary_source: torch.Tensor
    adversary_target: torch.Tensor


def mdd_loss(
    logits_s: torch.Tensor,
    logits_t: torch.Tensor,
    adv_s: torch.Tensor,
    adv_t: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    *,
    trade_off: float,
    margin: float,
) -> MDDLoss:
    """The MDD objective from f's and f′'s logits on source and target (see the module docstring); f′'s logits must
    come through the gradient reversal layer for ψ to receive the reversed gradient."""
    pseudo_s, pseudo_t = logits_s.detach().argmax(dim=1), logits_t.detach().argmax(dim=1)
    classification = F.cross_entropy(logits_s.float(), labels, weight=weights)
    adversary_source = F.cross_entropy(adv_s.float(), pseudo_s)
    p_t = F.softmax(adv_t.float(), dim=1).gather(1, pseudo_t[:, None]).squeeze(1)
    adversary_target = -torch.log((1.0 - p_t).clamp(min=LOG_FLOOR)).mean()
    total = classification + trade_off * (margin * adversary_source + adversary_target)
    return MDDLoss(total, classification, adversary_source, adversary_target)


class MDDStep:
    """One MDD optimisation step: a joint forward pass of the source and target batches, :func:`mdd_loss` with the
    GRL coefficient given, backward and the optimiser step; returns the detached loss. Forward passes run in
    :func:`~dabench.nn.training.device_context` (bf16 autocast on CUDA)."""

    def __init__(
        self,
        model: MDDNet,
        optimizer: torch.optim.Optimizer,
        weights: torch.Tensor,
        *,
        trade_off: float,
        margin: float,
        device: torch.device,
    ) -> None:
        self.model, self.optimizer, self.device = model, optimizer, device
        self.weights = weights.to(device)
        self.trade_off, self.margin = float(trade_off), float(margin)

    def loss(self, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor, coefficient: float) -> MDDLoss:
        with device_context(self.device):
            features = self.model.features(torch.cat([xs, xt]))
            logits = self.model.classifier(features)
            adversarial = self.model.adversary(GradientReversal.apply(features, coefficient))
        n = len(xs)
        return mdd_loss(
            logits[:n],
            logits[n:],
            adversarial[:n],
            adversarial[n:],
            ys,
            self.weights,
            trade_off=self.trade_off,
            margin=self.margin,
        )

    def __call__(self, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor, coefficient: float) -> torch.Tensor:
        loss = self.loss(xs, ys, xt, coefficient).total
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def check_weights(value: Any) -> str:
    """``value`` as a path string ("" = from scratch); a :class:`~dabench.SpecError` when the file is missing."""
    path = str(value)
    if path and not Path(path).expanduser().is_file():
        raise SpecError(
            f"mdd parameter weights={path!r}: no such file. Give a local torchvision resnet18 state dict (saved with "
            "torch.save(resnet18().state_dict(), PATH)), or leave weights empty to train the backbone from scratch."
        )
    return path


class MDD:
    """The ``mdd`` method; see the module docstring."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)
        self.params["weights"] = check_weights(self.params.get("weights", ""))

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        p = self.params
        if task.task_type != "classification":
            raise SpecError(f"mdd is a classification method; this task is {task.task_type!r}.")
        batch, epochs = int(p["batch_size"]), int(p["epochs"])
        model = prepare_model(build_model(task, p, seeds), device)
        xs, ys = task.source.images.to(device), task.source.labels.to(device)
        xt = task.unlabeled[task.adapt_domain].images.to(device)
        source_batches = iter(IndexBatches(len(xs), batch, seeds.torch("loader"), device))
        target_batches = iter(IndexBatches(len(xt), batch, seeds.torch("loader-target"), device))
        per_epoch = steps_per_epoch(len(xs), batch)
        total = epochs * per_epoch
        optimizer = mdd_optimizer(model, p)
        weights = class_weights(task.source.labels, task.num_classes)
        step_fn = MDDStep(model, optimizer, weights, trade_off=p["trade_off"], margin=p["margin"], device=device)
        augment_s = PaperAugment(seeds.torch("augment-source"), enabled=bool(p["augment"]))
        augment_t = PaperAugment(seeds.torch("augment-target"), enabled=bool(p["augment"]))
        schedule = {"alpha": p["grl_alpha"], "lo": p["grl_lo"], "hi": p["grl_hi"], "max_iters": p["grl_max_iters"]}
        guard = DivergenceGuard(total)
        progress = EpochProgress(total, epochs)
        model.train()
        for step in range(total):
            set_lr(optimizer, step_lr(float(p["lr"]), step // per_epoch, int(p["lr_step"]), float(p["lr_gamma"])))
            si, ti = next(source_batches), next(target_batches)
            loss = step_fn(augment_s(xs[si]), ys[si], augment_t(xt[ti]), grl_coefficient(step, **schedule))
            guard.check(loss, step)
            progress.step(step, loss)
            epoch = (step + 1) // per_epoch
            if (step + 1) % per_epoch == 0 and wants_checkpoint(epoch):
                guard.finish(model)  # a kept checkpoint must be finite
                offer_predictor(epoch, predictor(model, task, device, frozen=True))
        guard.finish(model)
        return predictor(model, task, device)


def predictor(model: MDDNet, task: AdaptationTask, device: torch.device, *, frozen: bool = False) -> ModelPredictor:
    """The :class:`~dabench.nn.training.ModelPredictor` of ``model`` (f′ is left out: it only trains), evaluating
    at most :data:`EVAL_PIXELS` pixels per chunk; ``frozen``: over a copy, for a checkpoint."""
    features, head = model.features, model.classifier
    if frozen:
        features, head = copy.deepcopy(features), copy.deepcopy(head)
    _, h, w = task.input_shape
    chunk = max(1, min(1024, EVAL_PIXELS // max(1, h * w)))
    return ModelPredictor(FeatureClassifier(features, head, model.feature_dim), device, chunk=chunk)
