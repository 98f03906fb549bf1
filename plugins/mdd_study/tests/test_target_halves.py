"""The MDD study's ``target_halves`` protocol: two disjoint, stratified halves of the target lab, one unlabelled for
adaptation and selection, one held out for testing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dabench
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run


def request(**kw: Any) -> RunRequest:
    base: dict[str, Any] = {
        "method": "source_only",
        "dataset": "digits",
        "target": "digits",
        "protocol": "target_halves",
        "params": {"epochs": 1},
        "n_bootstrap": 0,
        "metrics": ("macro_f1", "accuracy"),
    }
    return RunRequest(**(base | kw))


def test_the_halves_are_disjoint_stratified_and_the_adaptation_half_unlabelled(registry: Any) -> None:
    from dabench.run.datasource import DataSource
    from dabench.run.protocols import ProtocolContext
    from dabench.seeding import Seeds
    from dabench_mdd_study import build_target_halves

    spec = resolve(request(), registry)
    ctx = ProtocolContext(registry=registry, data=DataSource(registry, None, Seeds(0)), seeds=Seeds(0), device=None)  # type: ignore[arg-type]
    task, tests = build_target_halves(spec, ctx)
    adapt, test = tests["target_adapt"](), tests["target"]()
    assert not hasattr(task.unlabeled["target"], "labels")
    assert task.unlabeled["target"].images.equal(adapt.images)
    assert abs(len(adapt) - len(test)) <= 10  # halves (each class rounds on its own)
    seen = {tuple(x.flatten().tolist()) for x in adapt.images}
    assert sum(tuple(x.flatten().tolist()) in seen for x in test.images) < 5  # disjoint (digits has a few duplicates)
    a, t = np.bincount(adapt.labels.numpy(), minlength=10), np.bincount(test.labels.numpy(), minlength=10)
    assert np.all(np.abs(a - t) <= 1)  # stratified by class


def test_a_run_scores_both_halves_and_the_source(registry: Any) -> None:
    record = run(resolve(request(), registry), registry).to_record()
    assert set(record["metrics"]) == {"source", "target", "target_adapt"}
    assert record["sizes"]["unlabeled_target"] == record["sizes"]["test_target_adapt"]


def test_it_needs_a_target_lab(registry: Any) -> None:
    with pytest.raises(dabench.SpecError, match="needs a target lab"):
        run(resolve(request(target=None), registry), registry)
