"""AdaBN (Li et al. 2016): replace each BatchNorm layer's running mean/variance by the target domain's.

The statistics come from :func:`~dabench_adabn.estimators.adapt_batchnorm` with the ``estimator`` parameter:
``"exact"`` (default; layer-sequential population statistics in eval mode, each pass stopped after the layer being
estimated) or ``"running"`` (one train-mode pass, cumulative moving averages; see :mod:`dabench_adabn.estimators`
for how the two differ). Records made before ``estimator`` existed have no such parameter and run as ``"exact"``.
Training fails as diverged on a non-finite loss (:class:`~dabench.nn.training.DivergenceGuard`), and so does
adaptation when it leaves a non-finite statistic (e.g. a target of huge values). Classification trains the LeNet-size
network, segmentation the U-Net (both through :class:`~dabench.nn.training.SupervisedTraining`).

Per-domain evaluation (Li et al.: every domain is normalised with its own statistics). The fitted
:class:`AdaBNPredictor` predicts with the adapted (``task.adapt_domain``) statistics, and implements the predictor
protocol's optional ``for_domain(name, images)``, which the runner calls for every test domain:

* ``"source"`` — the source statistics (the running averages of source training, i.e. exactly ``source_only``);
* ``task.adapt_domain`` (``"target"`` in ``uda``) — the statistics of its unlabelled train data, adapted in ``fit``;
* any other name of ``task.unlabeled`` (a multi-target protocol's per-target unlabelled train sets, named as its
  test domains) — the statistics of *that* domain's unlabelled train data, estimated on first use and cached;
* any other domain (the DANN study's ``test@<intensity>`` grid) — statistics estimated from that domain's own
  unlabelled test images, transductively (AdaBN needs only images; the labels stay with the runner). The matching
  unlabelled DA data exists for one intensity at most, so the test images are the only source that covers a grid.

:meth:`AdaBNPredictor.source_predictor` is the unadapted model (source statistics), for "unadapted vs adapted"
comparisons and latent diagnostics.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dabench import AdaptationTask, Seeds, UnlabeledSplit
from dabench.nn.training import ModelPredictor, SupervisedTraining, check_module_finite
from dabench_adabn.estimators import BN_TYPES, adapt_batchnorm, check_estimator

__all__ = ["AdaBN", "AdaBNPredictor", "BNStats", "adapt_batchnorm", "bn_statistics", "load_bn_statistics"]

BNStats = dict[str, torch.Tensor]
"""Every BN layer's ``running_mean`` / ``running_var``, by buffer name."""


def bn_statistics(model: nn.Module) -> BNStats:
    """A copy of the running statistics of every BN layer of ``model``."""
    return {
        f"{name}.{buffer}": getattr(layer, buffer).detach().clone()
        for name, layer in model.named_modules()
        if isinstance(layer, BN_TYPES)
        for buffer in ("running_mean", "running_var")
    }


@torch.no_grad()
def load_bn_statistics(model: nn.Module, stats: BNStats) -> None:
    """Copy ``stats`` (from :func:`bn_statistics`) into ``model``'s BN layers."""
    buffers = dict(model.named_buffers())
    for name, value in stats.items():
        buffers[name].copy_(value)


class AdaBNPredictor(ModelPredictor):
    """Predicts with the adapted statistics; ``for_domain`` gives each test domain its own (module docstring).

    ``unlabeled`` is the task's mapping of unlabelled train splits by domain name, kept as given (a protocol may build
    a split only when it is looked up): ``for_domain`` adapts on a domain's images the first time it is asked for."""

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        source: BNStats,
        adapted: Mapping[str, BNStats],
        batch_size: int,
        estimator: str = "exact",
        unlabeled: Mapping[str, UnlabeledSplit] | None = None,
    ) -> None:
        super().__init__(model, device)
        self.source, self.adapted, self.batch_size = source, dict(adapted), batch_size
        self.estimator = check_estimator(estimator)
        self.unlabeled: Mapping[str, UnlabeledSplit] = unlabeled if unlabeled is not None else {}

    def _with_statistics(self, stats: BNStats) -> ModelPredictor:
        model = copy.deepcopy(self.model)
        load_bn_statistics(model, stats)
        return ModelPredictor(model, self.device)

    def _adapted_copy(self, images: torch.Tensor) -> nn.Module:
        model = copy.deepcopy(self.model)
        adapt_batchnorm(model, images, self.batch_size, self.device, estimator=self.estimator)
        check_module_finite(model)
        return model

    def source_predictor(self) -> ModelPredictor:
        """The unadapted model: the source statistics of training (exactly ``source_only``'s predictions)."""
        return self._with_statistics(self.source)

    def from_checkpoint(self, checkpoint: ModelPredictor) -> AdaBNPredictor:
        """An offered checkpoint of the source training (a frozen copy) as AdaBN: its own source statistics, each
        domain adapted on first use exactly as the final model is (model selection scores AdaBN, not its source)."""
        return AdaBNPredictor(
            checkpoint.model,
            self.device,
            source=bn_statistics(checkpoint.model),
            adapted={},
            batch_size=self.batch_size,
            estimator=self.estimator,
            unlabeled=self.unlabeled,
        )

    def for_domain(self, name: str, images: torch.Tensor) -> ModelPredictor:
        """A predictor for test domain ``name``; its unlabelled test ``images`` are used only for a domain that is
        neither the source nor has unlabelled train data in the task (module docstring)."""
        if name == "source":
            return self._with_statistics(self.source)
        if name not in self.adapted and name in self.unlabeled:
            self.adapted[name] = bn_statistics(self._adapted_copy(self.unlabeled[name].images))
        if name in self.adapted:
            return self._with_statistics(self.adapted[name])
        return ModelPredictor(self._adapted_copy(images), self.device)


class AdaBN:
    """The ``adabn`` method: :class:`~dabench.nn.training.SupervisedTraining`, then :func:`adapt_batchnorm`."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)
        self.estimator = check_estimator(self.params.get("estimator", "exact"))  # older records: no estimator

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> AdaBNPredictor:
        if task.adapt_domain not in task.unlabeled:
            raise ValueError(
                f"AdaBN adapts to domain {task.adapt_domain!r}, but the task only has {sorted(task.unlabeled)}"
            )
        model = SupervisedTraining(self.params).fit(task, seeds=seeds, device=device).model
        source = bn_statistics(model)
        batch_size = int(self.params["adapt_batch_size"])
        images = task.unlabeled[task.adapt_domain].images
        adapt_batchnorm(model, images, batch_size, device, estimator=self.estimator)
        check_module_finite(model)
        return AdaBNPredictor(
            model,
            device,
            source=source,
            adapted={task.adapt_domain: bn_statistics(model)},
            batch_size=batch_size,
            estimator=self.estimator,
            unlabeled=task.unlabeled,
        )
