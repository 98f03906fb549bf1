"""Training building blocks shared by methods: index-slice batching, the Ganin SGD schedule, a predictor wrapper,
the divergence guard and the supervised (source-only, ERM) trainer (a LeNet for classification, a U-Net for
segmentation).

Batches are index slices of tensors already in memory (on the device), not per-item ``Dataset.__getitem__`` calls.

A run whose loss or parameters become non-finite must fail, never be recorded ``ok`` with NaN metrics: training
loops call :class:`DivergenceGuard` (``check(loss, step)`` each step, ``finish(model)`` at the end), which raises
:class:`~dabench.errors.RunDiverged` ("diverged at step k of n: loss is nan"). On CPU it checks every step; on other
devices it keeps a flag on the device and syncs only every ``every`` steps, still reporting the first bad step.

Progress: loops report each finished epoch through :class:`~dabench.run.progress.EpochProgress` (a no-op unless the
CLI shows a progress bar).

CUDA fast path (DESIGN §7): :func:`prepare_model` moves a model to its device and, on CUDA, to the channels_last
memory format when it has convolutions; :func:`device_context` runs forward passes under bf16 autocast on CUDA.
Both are off on CPU (results there are unchanged), can be switched off per call (``channels_last=False``,
``autocast=False``) or for a process (``DABENCH_CHANNELS_LAST=0``, ``DABENCH_AUTOCAST=0``), and what a run used is
recorded in its provenance (``autocast``, ``channels_last``) through :func:`fast_path_usage`.

References
----------
Ganin & Lempitsky (2015), Unsupervised Domain Adaptation by Backpropagation, ICML (learning-rate annealing).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from dabench.data import AdaptationTask
from dabench.errors import RunDiverged
from dabench.nn.checkpoints import offer_checkpoint as offer_checkpoint  # re-exported: the checkpoint API
from dabench.nn.checkpoints import offer_predictor as offer_predictor
from dabench.nn.checkpoints import wants_checkpoint as wants_checkpoint
from dabench.nn.features import extract_features
from dabench.nn.models import FeatureClassifier, init_parameters, lenet
from dabench.nn.unet import unet_for
from dabench.run.progress import EpochProgress as EpochProgress  # re-exported: the progress API for methods
from dabench.run.progress import report_epoch as report_epoch
from dabench.seeding import Seeds


class IndexBatches:
    """Endless mini-batch index tensors over ``n`` items: a fresh seeded permutation each pass, last partial batch
    dropped when ``n >= batch_size`` (so BatchNorm never sees a batch of one)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> None:
        if n == 0:
            raise ValueError("cannot draw batches from an empty split")
        self.n, self.batch_size, self.generator, self.device = n, min(batch_size, n), generator, device

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            order = torch.randperm(self.n, generator=self.generator).to(self.device)
            for start in range(0, self.n - self.batch_size + 1, self.batch_size):
                yield order[start : start + self.batch_size]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // min(batch_size, n))


def ganin_lr(base_lr: float, progress: float, alpha: float, beta: float) -> float:
    """``base_lr / (1 + alpha · p)^beta`` for training progress ``p`` in [0, 1]."""
    return base_lr / (1.0 + alpha * progress) ** beta


def sgd(model: nn.Module, params: Mapping[str, Any]) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(), lr=params["lr"], momentum=params["momentum"], weight_decay=params["weight_decay"]
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def build_classifier(task: AdaptationTask, params: Mapping[str, Any], seeds: Seeds) -> FeatureClassifier:
    """The classification network for ``task``, initialised from the ``init`` seed: the LeNet (``width``,
    ``hidden``), or with ``backbone=resnet18`` torchvision's ResNet-18 from scratch (optionally loaded from
    ``backbone_weights``, a local state dict) with a linear head. Records older than ``backbone`` have none: LeNet."""
    channels, h, w = task.input_shape
    if params.get("backbone", "lenet") == "resnet18":
        from dabench.nn.resnet import resnet18_classifier

        return resnet18_classifier(
            channels,
            task.num_classes,
            weights=str(params.get("backbone_weights", "")),
            seed=seeds.int("init"),
            head_seed=seeds.int("init/head"),
        )
    model = lenet(channels, task.num_classes, (h, w), width=int(params["width"]), hidden=int(params["hidden"]))
    init_parameters(model, seeds.torch("init"))
    return model


def check_finite(loss: torch.Tensor, step: int, total: int) -> None:
    """Raise :class:`RunDiverged` unless ``loss`` (at 0-based ``step`` of ``total``) is finite. Syncs with the device;
    inside a loop prefer :class:`DivergenceGuard`, which does not on CUDA."""
    value = float(loss.detach().sum())
    if not math.isfinite(value):
        raise RunDiverged(f"loss is {value}", step=step + 1, total=total)


def check_module_finite(*modules: nn.Module, step: int | None = None, total: int | None = None) -> None:
    """Raise :class:`RunDiverged` naming the first parameter or buffer of ``modules`` with a non-finite value."""
    tensors = [
        (f"{kind} {name!r}", t)
        for module in modules
        for kind, named in (("parameter", module.named_parameters()), ("buffer", module.named_buffers()))
        for name, t in named
        if t.is_floating_point()
    ]
    if not tensors or bool(torch.stack([torch.isfinite(t.detach()).all() for _, t in tensors]).all()):
        return
    bad = next(label for label, t in tensors if not bool(torch.isfinite(t.detach()).all()))
    raise RunDiverged(f"{bad} is not finite", step=step, total=total)


class DivergenceGuard:
    """Fails a training loop of ``total`` steps as soon as its loss is non-finite (see the module docstring).

    ``check(loss, step)`` takes the 0-based step; messages count steps from 1 ("step 1 of n" is the first).
    """

    def __init__(self, total: int, *, every: int = 50, defer: bool | None = None) -> None:
        self.total, self.every, self.defer = int(total), max(1, int(every)), defer
        self._first: torch.Tensor | None = None  # device copy of the first bad (0-based) step, ``total`` if none
        self._value: torch.Tensor | None = None  # the loss at that step

    def check(self, loss: torch.Tensor, step: int) -> None:
        """Check the loss of ``step``: immediately on CPU, deferred (synced every ``every`` steps) on other devices;
        ``defer`` given to the constructor overrides the choice."""
        if not (self.defer if self.defer is not None else loss.device.type != "cpu"):
            check_finite(loss, step, self.total)
            return
        value = loss.detach().float().sum()
        if self._first is None or self._value is None:
            self._first = torch.full((), self.total, dtype=torch.int64, device=loss.device)
            self._value = torch.zeros((), dtype=torch.float32, device=loss.device)
        new = ~torch.isfinite(value) & (self._first >= self.total)
        self._first = torch.where(new, step, self._first)
        self._value = torch.where(new, value, self._value)
        if (step + 1) % self.every == 0:
            self.flush()

    def flush(self) -> None:
        """Sync the deferred flag and raise :class:`RunDiverged` for the first non-finite loss seen so far."""
        if self._first is None or self._value is None:
            return
        first, value = int(self._first.item()), float(self._value.item())
        if first < self.total:
            raise RunDiverged(f"loss is {value}", step=first + 1, total=self.total)

    def finish(self, *modules: nn.Module) -> None:
        """End of training: flush, then check that every parameter and buffer of ``modules`` is finite."""
        self.flush()
        check_module_finite(*modules, step=self.total, total=self.total)


@dataclass
class FastPathUsage:
    """What the CUDA fast path did in a run: ``autocast`` is ``"bf16"`` or None, ``channels_last`` a flag."""

    autocast: str | None = None
    channels_last: bool = False

    def as_record(self) -> dict[str, Any]:
        return {"autocast": self.autocast, "channels_last": self.channels_last}


_USAGE: ContextVar[FastPathUsage | None] = ContextVar("dabench_fast_path_usage", default=None)


@contextlib.contextmanager
def fast_path_usage() -> Iterator[FastPathUsage]:
    """Collect, inside the block, what :func:`prepare_model` and :func:`device_context` applied (the runner wraps
    each run in one and records the result)."""
    usage = FastPathUsage()
    token = _USAGE.set(usage)
    try:
        yield usage
    finally:
        _USAGE.reset(token)


def _switched_off(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in ("0", "off", "false", "no")


def _on_cuda(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda"


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def prepare_model(model: ModuleT, device: torch.device, *, channels_last: bool = True) -> ModuleT:
    """``model`` on ``device``; on CUDA, in channels_last memory format when it has 2-D convolutions (unless
    ``channels_last=False`` or ``DABENCH_CHANNELS_LAST=0``). Returns the same module."""
    model = model.to(device)
    if (
        channels_last
        and _on_cuda(device)
        and not _switched_off("DABENCH_CHANNELS_LAST")
        and any(isinstance(m, nn.Conv2d) for m in model.modules())
    ):
        model = model.to(memory_format=torch.channels_last)
        usage = _USAGE.get()
        if usage is not None:
            usage.channels_last = True
    return model


def device_context(device: torch.device | str, *, autocast: bool = True) -> contextlib.AbstractContextManager[Any]:
    """The context forward passes run in: bf16 autocast on CUDA (unless ``autocast=False`` or
    ``DABENCH_AUTOCAST=0``), nothing on CPU."""
    if not autocast or not _on_cuda(device) or _switched_off("DABENCH_AUTOCAST"):
        return contextlib.nullcontext()
    usage = _USAGE.get()
    if usage is not None:
        usage.autocast = "bf16"
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


class ModelPredictor:
    """Wraps a trained module as a :class:`~dabench.Predictor`: eval mode, no grad, chunked, logits on CPU; forward
    passes in :func:`device_context` (bf16 autocast on CUDA). Chunks hold ``chunk`` inputs, fewer when the model
    declares ``max_batch_pixels`` (the U-Net: at most that many pixels per chunk)."""

    def __init__(self, model: nn.Module, device: torch.device, chunk: int = 1024) -> None:
        self.model, self.device, self.chunk = model.eval(), device, chunk

    def _rows(self, x: torch.Tensor) -> int:
        """Inputs per chunk for ``x``: ``chunk``, capped by the model's ``max_batch_pixels`` when it has one."""
        budget = getattr(self.model, "max_batch_pixels", None)
        if not isinstance(budget, int) or x.dim() < 4:
            return self.chunk
        return max(1, min(self.chunk, budget // max(1, int(x.shape[-2]) * int(x.shape[-1]))))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        rows = self._rows(x)
        with device_context(self.device):
            outputs = [self.model(x[i : i + rows].to(self.device)).float().cpu() for i in range(0, len(x), rows)]
        return torch.cat(outputs) if outputs else torch.zeros(0)

    @torch.no_grad()
    def predict_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and features from one forward pass (the runner's evaluation uses both); ``(logits, None)`` for a
        model without ``features``/``classifier`` sub-modules (the U-Net: use :meth:`latent` for its features)."""
        extractor, head = getattr(self.model, "features", None), getattr(self.model, "classifier", None)
        if not isinstance(extractor, nn.Module) or not isinstance(head, nn.Module):
            return self.predict(x), None
        logits, features = [], []
        with device_context(self.device):
            for i in range(0, len(x), self.chunk):
                f = extractor(x[i : i + self.chunk].to(self.device))
                logits.append(head(f).float().cpu())
                features.append(f.flatten(1).float().cpu())
        return torch.cat(logits), torch.cat(features)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature extractor's output ``[N, D]`` (what DANN aligns and SND clusters), when the model has one."""
        extractor = getattr(self.model, "features", None)
        if not isinstance(extractor, nn.Module):
            raise AttributeError("this model has no 'features' sub-module")
        with device_context(self.device):
            chunks = [
                extractor(x[i : i + self.chunk].to(self.device)).flatten(1).float().cpu()
                for i in range(0, len(x), self.chunk)
            ]
        return torch.cat(chunks)

    @torch.no_grad()
    @torch.no_grad()
    def latent_with_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`latent` and the logits from one forward pass (a model naming a ``latent_layer`` only)."""
        from dabench.nn.features import pre_activation_input

        layer = getattr(self.model, "latent_layer", None)
        if not isinstance(layer, str):
            raise AttributeError("this model names no latent_layer")
        module = pre_activation_input(self.model, layer)
        captured: list[torch.Tensor] = []

        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            captured.append(inputs[0].detach().float().mean(dim=(2, 3)).cpu())

        handle = module.register_forward_pre_hook(hook)
        rows = self._rows(x)
        logits: list[torch.Tensor] = []
        try:
            with device_context(self.device):
                for i in range(0, len(x), rows):
                    logits.append(self.model(x[i : i + rows].to(self.device)).float().cpu())
        finally:
            handle.remove()
        return torch.cat(captured), torch.cat(logits)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The model's latent features ``[N, D]`` (float32, CPU) for shift diagnostics: for a model naming a
        ``latent_layer`` (the U-Net's ``bottleneck``), that layer's pre-activation output averaged over space
        (:func:`~dabench.nn.features.extract_features`, ``pre_activation=True, reduce="mean"``); otherwise
        :meth:`features`."""
        layer = getattr(self.model, "latent_layer", None)
        if not isinstance(layer, str):
            return self.features(x)
        with device_context(self.device):
            return extract_features(
                self.model,
                x,
                layer,
                pre_activation=True,
                batch_size=self._rows(x),
                device=self.device,
                reduce="mean",
            )


def build_model(task: AdaptationTask, params: Mapping[str, Any], seeds: Seeds) -> nn.Module:
    """The network :class:`SupervisedTraining` trains for ``task``: the U-Net (:func:`~dabench.nn.unet.unet_for`:
    ``width``, ``depth``) for segmentation, else the LeNet (:func:`build_classifier`: ``width``, ``hidden``)."""
    if task.task_type == "segmentation":
        return unet_for(task, params, seeds)
    return build_classifier(task, params, seeds)


class SupervisedTraining:
    """Source-only training (ERM): cross-entropy on the labelled source with SGD and the Ganin schedule; for
    segmentation a U-Net (:func:`build_model`) with pixel-wise cross-entropy (logits ``[N, C, H, W]``, labels
    ``[N, H, W]``)."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        p = self.params
        model = prepare_model(build_model(task, p, seeds), device)
        x, y = task.source.images.to(device), task.source.labels.to(device)
        batches = iter(IndexBatches(len(x), int(p["batch_size"]), seeds.torch("loader"), device))
        total = int(p["epochs"]) * steps_per_epoch(len(x), int(p["batch_size"]))
        optimizer = sgd(model, p)
        loss_fn = nn.CrossEntropyLoss()
        guard = DivergenceGuard(total)
        progress = EpochProgress(total, int(p["epochs"]))
        per_epoch = steps_per_epoch(len(x), int(p["batch_size"]))
        model.train()
        for step in range(total):
            set_lr(optimizer, ganin_lr(p["lr"], step / total, p["lr_alpha"], p["lr_beta"]))
            index = next(batches)
            with device_context(device):
                loss = loss_fn(model(x[index]), y[index])
            guard.check(loss, step)
            progress.step(step, loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if (step + 1) % per_epoch == 0 and wants_checkpoint((step + 1) // per_epoch):
                guard.finish(model)  # a kept checkpoint must be finite
                offer_checkpoint((step + 1) // per_epoch, model, device)
                model.train()
        guard.finish(model)
        return ModelPredictor(model, device)
