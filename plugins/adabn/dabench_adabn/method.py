"""AdaBN (Li et al. 2016): replace each BatchNorm layer's running mean/variance by the target domain's.

Statistics are the exact population mean and (biased→unbiased, as BatchNorm stores) variance of each BN layer's
input over the whole target domain, accumulated layer by layer with hooks in one no-grad pass per layer depth:
the network is run in eval mode, so every layer sees inputs normalised with the already-adapted statistics of the
layers before it. Training fails as diverged on a non-finite loss (:class:`~dabench.nn.training.DivergenceGuard`), and
so does adaptation when it leaves a non-finite statistic (e.g. a target of huge values).
"""

from __future__ import annotations

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


class AdaBN:
    """The ``adabn`` method: :class:`~dabench.nn.training.SupervisedTraining`, then :func:`adapt_batchnorm`."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        predictor = SupervisedTraining(self.params).fit(task, seeds=seeds, device=device)
        if task.adapt_domain not in task.unlabeled:
            raise ValueError(
                f"AdaBN adapts to domain {task.adapt_domain!r}, but the task only has {sorted(task.unlabeled)}"
            )
        target = task.unlabeled[task.adapt_domain].images
        adapt_batchnorm(predictor.model, target, int(self.params["adapt_batch_size"]), device)
        check_module_finite(predictor.model)
        return predictor
