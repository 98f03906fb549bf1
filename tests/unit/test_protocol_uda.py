"""The ``uda`` protocol without a target dataset: labelled source and unlabelled target are disjoint halves."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import torch

from dabench.data import AdaptationTask
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.run.datasource import DataSource
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench.seeding import Seeds
from dabench.specs import Citation, MethodSpec

SEEN: list[AdaptationTask] = []


class Spy:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: AdaptationTask, **kwargs: object) -> Spy:
        SEEN.append(task)
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 4)


SPY = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [MethodSpec(name="spy", build=Spy, paper=Citation(authors="T", title="spy", year=2024))]
    )
)


def _rows(images: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in images.flatten(1)}


def _task(seed: int, **request: Any) -> AdaptationTask:
    registry = build_registry([("spy", SPY)])
    SEEN.clear()
    run(resolve(RunRequest(method="spy", dataset="synthetic", n_bootstrap=0, seed=seed, **request), registry), registry)
    return SEEN[0]


def test_same_dataset_target_is_disjoint_from_the_labelled_source() -> None:
    registry = build_registry([("spy", SPY)])
    train = DataSource(registry, None, Seeds(0)).load("synthetic").train
    task = _task(0)  # no shift: target images are the raw images, comparable row by row
    source, target = _rows(task.source.images), _rows(task.unlabeled["target"].images)
    assert len(source) == len(task.source) and len(target) == len(task.unlabeled["target"])  # no duplicates
    assert not source & target  # disjoint ...
    assert source | target == _rows(train.images.float().div(255.0))  # ... and together the whole train split
    assert len(task.source) == len(train) // 2
    counts = torch.bincount(task.source.labels, minlength=4)
    assert torch.equal(counts * 2, torch.bincount(train.labels, minlength=4))  # stratified by class


def test_split_is_seeded_and_kept_under_a_shift() -> None:
    a, b, other = _task(0), _task(0), _task(1)
    assert torch.equal(a.source.images, b.source.images)
    assert not torch.equal(a.source.images, other.source.images)
    shifted = _task(0, shift="noise:0.4")
    assert torch.equal(shifted.source.images, a.source.images)
    assert len(shifted.unlabeled["target"]) == len(a.unlabeled["target"])
    assert not torch.equal(shifted.unlabeled["target"].images, a.unlabeled["target"].images)
