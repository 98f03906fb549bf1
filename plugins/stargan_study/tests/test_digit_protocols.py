"""The study's protocols: all domains handed to the translator; the global model tested per domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import dabench
from dabench.run.datasource import DataSource
from dabench.run.protocols import ProtocolContext
from dabench.run.resolve import RunRequest, resolve
from dabench.seeding import Seeds
from dabench_stargan_study.protocols import build_digit_global, build_digit_pairs


def context(registry: Any, root: Path) -> ProtocolContext:
    return ProtocolContext(
        registry=registry, data=DataSource(registry, root, Seeds(0)), seeds=Seeds(0), device=torch.device("cpu")
    )


def spec(registry: Any, dataset: str, target: str | None, protocol: str) -> dabench.RunSpec:
    return resolve(RunRequest(method="source_only", dataset=dataset, target=target, protocol=protocol), registry)


def test_pairs_give_every_other_domain_unlabelled(registry: Any, tiny_root: Path) -> None:
    s = spec(registry, "digits3:mnist", "digits3:usps", "digit_pairs")
    task, tests = build_digit_pairs(s, context(registry, tiny_root))
    assert set(task.unlabeled) == {"target", "mnist_m"} and task.adapt_domain == "target"
    assert not hasattr(task.unlabeled["mnist_m"], "labels")
    assert set(tests) == {"source", "target"} and task.source.images.dtype == torch.float32
    usps = context(registry, tiny_root).load("digits3:usps")
    assert len(tests["target"]()) == len(usps.test) and len(task.unlabeled["target"]) == len(usps.train)


def test_same_domain_is_the_bespoke_model(registry: Any, tiny_root: Path) -> None:
    s = spec(registry, "digits3:usps", "digits3:usps", "digit_pairs")
    task, _ = build_digit_pairs(s, context(registry, tiny_root))
    assert set(task.unlabeled) == {"target", "mnist", "mnist_m"}


def test_global_model_is_tested_on_each_domain(registry: Any, tiny_root: Path) -> None:
    s = spec(registry, "digits3:pooled,fraction=0.5", None, "digit_global")
    task, tests = build_digit_global(s, context(registry, tiny_root))
    assert set(tests) == {"mnist", "usps", "mnist_m", "pooled"} and set(task.unlabeled) == {"target"}
    assert torch.equal(task.unlabeled["target"].images, task.source.images)  # nothing to adapt to: its own images
    sizes = {d: len(tests[d]()) for d in ("mnist", "usps", "mnist_m")}
    assert len(tests["pooled"]()) == sum(sizes.values())


def test_protocol_errors(registry: Any, tiny_root: Path) -> None:
    ctx = context(registry, tiny_root)
    with pytest.raises(dabench.SpecError, match="needs --target digits3"):
        build_digit_pairs(spec(registry, "digits3:mnist", "usps", "digit_pairs"), ctx)
    with pytest.raises(dabench.SpecError, match="takes single domains"):
        build_digit_pairs(spec(registry, "digits3:pooled", "digits3:usps", "digit_pairs"), ctx)
    with pytest.raises(dabench.SpecError, match="no --target"):
        build_digit_global(spec(registry, "digits3:pooled", "digits3:usps", "digit_global"), ctx)


def test_the_study_runs_end_to_end_on_both_protocols(registry: Any, tiny_root: Path) -> None:
    from dabench.run.runner import run
    from dabench.testing import FAST_PARAMS

    declared = registry.methods.get("stargan").defaults
    fast = {k: v for k, v in FAST_PARAMS.items() if k in declared}
    for dataset, target, protocol, iters in (
        ("digits3:mnist", "digits3:usps", "digit_pairs", 2),
        ("digits3:pooled,fraction=0.5", None, "digit_global", 0),
    ):
        request = RunRequest(
            method="stargan",
            dataset=dataset,
            target=target,
            protocol=protocol,
            params={**fast, "gan_iters": iters, "gan_batch": 12},
            metrics=("auc",),
            n_bootstrap=0,
        )
        record = run(resolve(request, registry), registry, data_root=tiny_root).to_record()
        assert record["status"] == "ok"
        assert ("training" in record) == (iters > 0) and ("figures" in record) == (iters > 0)
