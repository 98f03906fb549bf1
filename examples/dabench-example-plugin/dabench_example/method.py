"""Entropy minimisation (Grandvalet & Bengio 2004): source cross-entropy + w · mean target prediction entropy.

The loop calls :class:`dabench.nn.training.DivergenceGuard`, so a run whose loss or parameters turn non-finite is
recorded as a failed, diverged run instead of an ``ok`` run with NaN metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from dabench import AdaptationTask, Seeds
from dabench.nn.training import (
    DivergenceGuard,
    IndexBatches,
    ModelPredictor,
    build_classifier,
    ganin_lr,
    set_lr,
    sgd,
    steps_per_epoch,
)


class EntropyMinimisation:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        p = self.params
        model = build_classifier(task, p, seeds).to(device)
        xs, ys = task.source.images.to(device), task.source.labels.to(device)
        xt = task.unlabeled[task.adapt_domain].images.to(device)
        batch = int(p["batch_size"])
        source = iter(IndexBatches(len(xs), batch, seeds.torch("loader"), device))
        target = iter(IndexBatches(len(xt), batch, seeds.torch("loader-target"), device))
        optimizer = sgd(model, p)
        total = int(p["epochs"]) * steps_per_epoch(len(xs), batch)
        guard = DivergenceGuard(total)
        model.train()
        for step in range(total):
            set_lr(optimizer, ganin_lr(p["lr"], step / total, p["lr_alpha"], p["lr_beta"]))
            i, j = next(source), next(target)
            logits = model(torch.cat([xs[i], xt[j]]))
            loss = torch.nn.functional.cross_entropy(logits[: len(i)], ys[i])
            log_p = torch.log_softmax(logits[len(i) :], dim=1)
            loss = loss - p["entropy_weight"] * (log_p.exp() * log_p).sum(1).mean()
            guard.check(loss, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        guard.finish(model)
        return ModelPredictor(model, device)
