from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from dabench.data import AdaptationTask, UnlabeledSplit
from dabench.errors import DataError, SpecError
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import resolve_device, run
from dabench.specs import Citation, MethodSpec

FAST = {"epochs": 3, "width": 8, "hidden": 16}  # 18 steps on the 400 labelled images uda leaves without --target
SEEN: list[AdaptationTask] = []


class Spy:
    """A method that remembers the task it was given and predicts class 0 for everything."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: AdaptationTask, *, seeds: object, device: torch.device) -> Spy:
        SEEN.append(task)
        self.num_classes = task.num_classes
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), self.num_classes)
        logits[:, 0] = 1
        return logits


SPY_PLUGIN = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [MethodSpec(name="spy", build=Spy, paper=Citation(authors="T", title="spy", year=2024))]
    )
)


def test_same_spec_same_numbers_and_seed_matters(registry) -> None:  # type: ignore[no-untyped-def]
    spec = resolve(
        RunRequest(method="source_only", dataset="synthetic", shift="noise:0.3", params=FAST, n_bootstrap=50), registry
    )
    a, b = run(spec, registry), run(spec, registry)
    assert a.to_record()["metrics"] == b.to_record()["metrics"]
    assert a.key == spec.key() and a.status == "ok" and a.provenance["deterministic"] is True
    other = run(
        resolve(
            RunRequest(
                method="source_only", dataset="synthetic", shift="noise:0.3", params=FAST, seed=1, n_bootstrap=50
            ),
            registry,
        ),
        registry,
    )
    assert (
        other.metrics["target"]["accuracy"].value != a.metrics["target"]["accuracy"].value
        or other.metrics["source"]["accuracy"].value != a.metrics["source"]["accuracy"].value
    )
    assert set(a.metrics) == {"source", "target"}
    est = a.metrics["target"]["accuracy"]
    assert est.low <= est.value <= est.high and est.n_boot == 50
    # no --target: the 800 train images are split into disjoint labelled-source / unlabelled-target halves
    assert a.sizes == {"source_train": 400, "test_source": 400, "test_target": 400, "unlabeled_target": 400}
    assert {"fit_s", "evaluate_s", "total_s"} <= set(a.timings)


def test_method_never_sees_target_labels() -> None:
    registry = build_registry([("spy", SPY_PLUGIN)])
    SEEN.clear()
    spec = resolve(RunRequest(method="spy", dataset="synthetic", shift="noise:0.5", n_bootstrap=0), registry)
    result = run(spec, registry)
    task = SEEN[0]
    assert set(task.unlabeled) == {"target"}
    target = task.unlabeled["target"]
    assert isinstance(target, UnlabeledSplit) and not hasattr(target, "labels")
    assert target.images.dtype == torch.float32 and float(target.images.min()) >= 0 and float(target.images.max()) <= 1
    assert float(target.images.mean()) > float(task.source.images.mean()) + 0.15  # the noise shift was applied
    assert task.target_labeled is None
    assert result.metrics["target"]["accuracy"].value == pytest.approx(0.25)  # 4 balanced classes, always class 0


def test_shift_is_identical_whatever_the_run() -> None:
    registry = build_registry([("spy", SPY_PLUGIN)])
    SEEN.clear()
    spec = resolve(RunRequest(method="spy", dataset="synthetic", shift="noise:0.5", n_bootstrap=0), registry)
    run(spec, registry)
    run(spec, registry)
    assert torch.equal(SEEN[0].unlabeled["target"].images, SEEN[1].unlabeled["target"].images)


def test_dataset_needing_files_without_root(registry) -> None:  # type: ignore[no-untyped-def]
    needs_root = [d for d in registry.datasets if d.needs_data_root]
    if not needs_root:
        pytest.skip("no dataset plugin that reads files is installed")
    spec = resolve(RunRequest(method="source_only", dataset=needs_root[0].name, n_bootstrap=0), registry)
    with pytest.raises(DataError, match="data root"):
        run(spec, registry, data_root=None)


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(SpecError, match="use auto, cpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SpecError, match="no CUDA"):
            resolve_device("cuda")
