"""AdaBN (Li et al. 2016): replace each BatchNorm layer's running mean/variance by the target domain's.

Statistics are the exact population mean and (biased→unbiased, as BatchNorm stores) variance of each BN layer's
input over the whole target domain, accumulated layer by layer with hooks in one no-grad pass per layer depth:
the network is run in eval mode, so every layer sees inputs normalised with the already-adapted statistics of the
layers before it. Training fails as diverged on a non-finite loss (:class:`~dabench.nn.training.DivergenceGuard`), and
so does adaptation when it leaves a non-finite statistic (e.g. a target of huge values).

Per-domain evaluation (Li et al.: every domain is normalised with its own statistics). The fitted
:class:`AdaBNPredictor` predicts with the adapted (target) statistics, and implements the predictor protocol's
optional ``for_domain(name, images)``, which the runner calls for every test domain:

* ``"source"`` — the source statistics (the running averages of source training, i.e. exactly ``source_only``);
* the domain it adapted on (``task.adapt_domain``; ``"target"`` in ``uda``) — the statistics of the unlabelled
  data of that domain it adapted on;
* any other domain (the DANN study's ``test@<intensity>`` grid) — statistics estimated from that domain's own
  unlabelled test images, transductively (AdaBN needs only images; the labels stay with the runner). The matching
  unlabelled DA data exists for one intensity at most, so the test images are the only source that covers a grid.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dabench import AdaptationTask, Seeds
from dabench.nn.training import ModelPredictor, SupervisedTraining, check_module_finite

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device) -> int:
    """Set every BN layer's running statistics to the target's; returns the number of layers adapted."""
    layers = [m for m in model.modules() if isinstance(m, _BN)]
    model.eval()
    for layer in layers:  # in forward order: each pass uses the adapted statistics of earlier layers
        sums: dict[str, Any] = {"n": 0, "s": None, "ss": None}

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], sums: dict[str, Any] = sums) -> None:
            x = inputs[0].double()
            dims = [0, *range(2, x.ndim)]
            sums["n"] += x.numel() // x.shape[1]
            s, ss = x.sum(dims), (x * x).sum(dims)
            sums["s"] = s if sums["s"] is None else sums["s"] + s
            sums["ss"] = ss if sums["ss"] is None else sums["ss"] + ss

        handle = layer.register_forward_pre_hook(hook)
        try:
            for start in range(0, len(images), batch_size):
                model(images[start : start + batch_size].to(device))
        finally:
            handle.remove()
        n = sums["n"]
        mean = sums["s"] / n
        var = (sums["ss"] / n - mean * mean).clamp_min(0) * (n / max(n - 1, 1))
        assert layer.running_mean is not None and layer.running_var is not None, "BN layer tracks no statistics"
        layer.running_mean.copy_(mean.to(layer.running_mean.dtype))
        layer.running_var.copy_(var.to(layer.running_var.dtype))
    return len(layers)


BNStats = dict[str, torch.Tensor]
"""Every BN layer's ``running_mean`` / ``running_var``, by buffer name."""


def bn_statistics(model: nn.Module) -> BNStats:
    """A copy of the running statistics of every BN layer of ``model``."""
    return {
        f"{name}.{buffer}": getattr(layer, buffer).detach().clone()
        for name, layer in model.named_modules()
        if isinstance(layer, _BN)
        for buffer in ("running_mean", "running_var")
    }


@torch.no_grad()
def load_bn_statistics(model: nn.Module, stats: BNStats) -> None:
    """Copy ``stats`` (from :func:`bn_statistics`) into ``model``'s BN layers."""
    buffers = dict(model.named_buffers())
    for name, value in stats.items():
        buffers[name].copy_(value)


class AdaBNPredictor(ModelPredictor):
    """Predicts with the adapted statistics; ``for_domain`` gives each test domain its own (module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        source: BNStats,
        adapted: Mapping[str, BNStats],
        batch_size: int,
    ) -> None:
        super().__init__(model, device)
        self.source, self.adapted, self.batch_size = source, dict(adapted), batch_size

    def for_domain(self, name: str, images: torch.Tensor) -> ModelPredictor:
        """A predictor for test domain ``name`` (its unlabelled ``images`` are used only for a domain that neither is
        the source nor was adapted on)."""
        model = copy.deepcopy(self.model)
        if name == "source":
            load_bn_statistics(model, self.source)
        elif name in self.adapted:
            load_bn_statistics(model, self.adapted[name])
        else:
            adapt_batchnorm(model, images, self.batch_size, self.device)
            check_module_finite(model)
        return ModelPredictor(model, self.device)


class AdaBN:
    """The ``adabn`` method: :class:`~dabench.nn.training.SupervisedTraining`, then :func:`adapt_batchnorm`."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> AdaBNPredictor:
        if task.adapt_domain not in task.unlabeled:
            raise ValueError(
                f"AdaBN adapts to domain {task.adapt_domain!r}, but the task only has {sorted(task.unlabeled)}"
            )
        model = SupervisedTraining(self.params).fit(task, seeds=seeds, device=device).model
        source = bn_statistics(model)
        batch_size = int(self.params["adapt_batch_size"])
        adapt_batchnorm(model, task.unlabeled[task.adapt_domain].images, batch_size, device)
        check_module_finite(model)
        adapted = {task.adapt_domain: bn_statistics(model)}
        return AdaBNPredictor(model, device, source=source, adapted=adapted, batch_size=batch_size)
