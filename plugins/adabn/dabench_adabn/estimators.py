"""Re-estimating a trained network's BatchNorm statistics on a target domain (AdaBN, Li et al. 2016; "pass the target
dataset through the network, freezing all parameters but updating μ̂ and σ̂", Stenger et al., paper 004).

Two estimators, selected by the ``adabn`` parameter ``estimator``:

* ``"exact"`` (the default): every BN layer gets the exact population mean and unbiased variance of its input over
  the whole target set, layer by layer in module order. The network runs in eval mode, so while layer *k* is
  estimated every earlier layer already normalises with its adapted *population* statistics. One pass over the target
  set per layer, each stopped early: a forward pre-hook on layer *k* raises a private exception once the layer has
  seen its input, so a pass costs only the network up to layer *k* (≈ Σ_k cost(up to k) instead of L full passes;
  ``early_stop=False`` runs the full passes, with identical numbers). A one-image probe pass first counts how often
  each layer is called per forward (a shared layer called twice stops at its second call).
* ``"running"``: the train-mode variant (what ``model.train()`` + a forward pass over the target does in most AdaBN
  code): parameters frozen (no grad, no optimiser), every BN layer in train mode with reset running statistics and
  ``momentum=None`` (PyTorch's cumulative moving average), all other layers in eval mode, one pass over the target
  batches (each stopped after the last BN call: the head changes no statistic); modes and momenta are restored
  afterwards. It differs from ``exact``: during the pass each layer normalises every batch with that *batch's*
  statistics, so later layers see batch-normalised inputs, not inputs normalised with the earlier layers' final
  population statistics; and the stored mean/variance are the unweighted averages of the per-batch means and
  unbiased variances (the spread of the batch means is not in the variance; a short last batch weighs as much as a
  full one). On a single batch the first BN layer's statistics are exactly ``exact``'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from dabench import DataError
from dabench_adabn import ESTIMATORS as ESTIMATORS
from dabench_adabn import check_estimator as check_estimator

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def bn_layers(model: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers of ``model`` in module order; each must track running statistics."""
    layers: list[_BatchNorm] = [m for m in model.modules() if isinstance(m, BN_TYPES)]
    for layer in layers:
        if layer.running_mean is None or layer.running_var is None:
            raise ValueError(f"BatchNorm layer {layer} tracks no running statistics: AdaBN has nothing to adapt")
    return layers


@torch.no_grad()
def adapt_batchnorm(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int,
    device: torch.device,
    *,
    estimator: str = "exact",
    early_stop: bool = True,
) -> int:
    """Set every BN layer's running statistics to the target ``images``' with ``estimator`` (module docstring);
    returns the number of layers adapted. Every module's train/eval mode is restored afterwards."""
    check_estimator(estimator)
    modes = [(m, m.training) for m in model.modules()]
    try:
        if estimator == "exact":
            return exact_statistics(model, images, batch_size, device, early_stop=early_stop)
        return running_statistics(model, images, batch_size, device)
    finally:
        for module, training in modes:
            module.training = training


class _EarlyStopError(Exception):
    """Private: raised by an early-stop hook to end a forward pass that has done all the work a pass needs."""


class _Moments:
    """Per-channel count, sum and sum of squares of a BN layer's inputs, accumulated in float64."""

    def __init__(self) -> None:
        self.n = 0
        self.s: torch.Tensor | None = None
        self.ss: torch.Tensor | None = None

    def add(self, x: torch.Tensor) -> None:
        x = x.double()
        dims = [0, *range(2, x.ndim)]
        self.n += x.numel() // x.shape[1]
        s, ss = x.sum(dims), (x * x).sum(dims)
        self.s = s if self.s is None else self.s + s
        self.ss = ss if self.ss is None else self.ss + ss

    def store(self, layer: _BatchNorm) -> None:
        """Write the population mean and unbiased variance (as BatchNorm stores it) into ``layer``."""
        assert self.s is not None and self.ss is not None and layer.running_mean is not None
        assert layer.running_var is not None
        n = self.n
        mean = self.s / n
        var = (self.ss / n - mean * mean).clamp_min(0) * (n / max(n - 1, 1))
        layer.running_mean.copy_(mean.to(layer.running_mean.dtype))
        layer.running_var.copy_(var.to(layer.running_var.dtype))


def _call_order(model: nn.Module, probe: torch.Tensor, layers: list[_BatchNorm]) -> list[int]:
    """The indices into ``layers`` in the order they run in one eval-mode forward pass of ``model`` (on a one-image
    ``probe``; a layer called twice appears twice)."""
    order: list[int] = []
    handles = []
    for index, layer in enumerate(layers):

        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], index: int = index) -> None:
            order.append(index)

        handles.append(layer.register_forward_pre_hook(record))
    try:
        model(probe)
    finally:
        for handle in handles:
            handle.remove()
    return order


class _Passes:
    """Forward passes over ``images`` in ``slices`` that end early: each stops (:class:`_EarlyStopError`) once
    ``layer`` has run ``calls`` times — before its computation (``after=False``: only its input is needed) or after
    it (``after=True``). ``calls=0`` runs full passes. ``on_input`` sees the layer's input at every call."""

    def __init__(
        self, model: nn.Module, images: torch.Tensor, slices: list[tuple[int, int]], device: torch.device
    ) -> None:
        self.model, self.images, self.slices, self.device = model, images, slices, device

    def run(
        self,
        layer: nn.Module,
        calls: int,
        *,
        after: bool = False,
        on_input: Callable[[torch.Tensor], None] | None = None,
    ) -> None:
        seen = [0]

        def count() -> None:
            seen[0] += 1
            if seen[0] == calls:
                raise _EarlyStopError

        def pre(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            if on_input is not None:
                on_input(inputs[0])
            if not after:
                count()

        def post(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            count()

        handles = [layer.register_forward_pre_hook(pre)]
        if after:
            handles.append(layer.register_forward_hook(post))
        try:
            for start, stop in self.slices:
                seen[0] = 0
                with contextlib.suppress(_EarlyStopError):
                    self.model(self.images[start:stop].to(self.device))
        finally:
            for handle in handles:
                handle.remove()


def exact_statistics(
    model: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device, *, early_stop: bool = True
) -> int:
    """The ``exact`` estimator (module docstring): layer-sequential population statistics in eval mode. A layer the
    forward pass never reaches keeps its statistics. Returns the number of layers adapted."""
    layers = bn_layers(model)
    model.eval()
    if not layers or len(images) == 0:
        return 0
    order = _call_order(model, images[:1].to(device), layers) if early_stop else []
    passes = _Passes(
        model, images, [(i, min(i + batch_size, len(images))) for i in range(0, len(images), batch_size)], device
    )
    adapted = 0
    for index, layer in enumerate(layers):  # in module order: earlier layers already adapted
        calls = order.count(index)
        if early_stop and calls == 0:
            continue
        moments = _Moments()
        passes.run(layer, calls, on_input=moments.add)
        if moments.n == 0:
            continue
        moments.store(layer)
        adapted += 1
    return adapted


def _running_batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` slices of ``batch_size``; a last batch of one image joins the one before (train-mode BN
    cannot normalise a single value per channel)."""
    slices = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if len(slices) > 1 and slices[-1][1] - slices[-1][0] == 1:
        slices[-2:] = [(slices[-2][0], n)]
    return slices


def running_statistics(model: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device) -> int:
    """The ``running`` estimator (module docstring): one train-mode pass with cumulative-average BN statistics.
    Leaves BN momenta as they were and every layer in eval mode; a layer the forward pass never reaches keeps its
    statistics. Returns the number of layers adapted."""
    layers = bn_layers(model)
    model.eval()
    if not layers or len(images) == 0:
        return 0
    if len(images) == 1 and any(isinstance(layer, nn.BatchNorm1d) for layer in layers):
        raise DataError(
            "the running BatchNorm estimator needs at least 2 target images for a network with BatchNorm1d layers "
            "(train mode cannot normalise one value per channel); use estimator=exact or more target images."
        )
    order = _call_order(model, images[:1].to(device), layers)  # eval mode: the probe changes no statistic
    if not order:  # no BN layer on the forward path
        return 0
    reached = [layer for index, layer in enumerate(layers) if index in order]  # others keep their statistics
    last = layers[order[-1]]  # the pass ends after the last BN call: what follows (the head) changes no statistic
    momenta = [layer.momentum for layer in reached]
    try:
        for layer in reached:
            layer.reset_running_stats()
            layer.momentum = None
            layer.train()
        _Passes(model, images, _running_batches(len(images), batch_size), device).run(
            last, order.count(order[-1]), after=True
        )
    finally:
        for layer, momentum in zip(reached, momenta, strict=True):
            layer.momentum = momentum
            layer.eval()
    return len(reached)
