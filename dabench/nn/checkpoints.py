"""Checkpoints for model selection: a training loop offers its model at the end of each epoch; when the run asks
for checkpoints (``RunSpec.checkpoint_every = k``) every k-th epoch's model is kept, frozen, for the runner to
score under every selection rule (:mod:`dabench.run.selection`). When the run asks for none, offering costs a
context-variable lookup and nothing is copied.

Methods built on :mod:`dabench.nn.training` call :func:`offer_checkpoint` (``SupervisedTraining`` does); a method
with its own kind of predictor offers one with :func:`offer_predictor` after asking :func:`wants_checkpoint`. A
method that adapts at test time on top of such a loop (AdaBN: the per-domain BatchNorm statistics) turns each
offered source model into its own predictor with ``from_checkpoint(predictor)`` on its final predictor; without
it the runner scores only its final model (its checkpoints would be unadapted source models, not the method).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Checkpoint:
    """The model after ``epoch`` epochs, as a predictor."""

    epoch: int
    predictor: Any


@dataclass
class CheckpointCollector:
    """Keeps the checkpoints of every ``every``-th epoch offered during one fit."""

    every: int
    items: list[Checkpoint] = field(default_factory=list)


_ACTIVE: ContextVar[CheckpointCollector | None] = ContextVar("dabench_checkpoints", default=None)


@contextlib.contextmanager
def collecting(every: int) -> Iterator[CheckpointCollector]:
    """Collect checkpoints of every ``every``-th epoch offered inside the block."""
    collector = CheckpointCollector(every=every)
    token = _ACTIVE.set(collector)
    try:
        yield collector
    finally:
        _ACTIVE.reset(token)


def wants_checkpoint(epoch: int) -> bool:
    """Whether the run keeps a checkpoint of ``epoch`` (1-based: the model after that many epochs)."""
    collector = _ACTIVE.get()
    return collector is not None and epoch % collector.every == 0


def offer_predictor(epoch: int, predictor: Any) -> None:
    """Hand the runner a ready predictor of the model after ``epoch`` epochs (it must not change afterwards)."""
    collector = _ACTIVE.get()
    if collector is not None and epoch % collector.every == 0:
        collector.items.append(Checkpoint(epoch=epoch, predictor=predictor))


def offer_checkpoint(epoch: int, model: nn.Module, device: torch.device) -> None:
    """Offer ``model`` after ``epoch`` epochs: a frozen copy is kept (eval mode) when the run wants this epoch."""
    if not wants_checkpoint(epoch):
        return
    from dabench.nn.training import ModelPredictor

    offer_predictor(epoch, ModelPredictor(copy.deepcopy(model).eval(), device))
