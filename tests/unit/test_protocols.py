"""The DANN study's 4-dataset protocol: A labelled, C/D unlabelled DA halves, B evaluated over a test grid."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from dabench.data import AdaptationTask
from dabench.errors import SpecError
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench.specs import Citation, MethodSpec

SEEN: list[AdaptationTask] = []
BRIGHTNESS: list[float] = []


class Spy:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: AdaptationTask, **kwargs: object) -> Spy:
        SEEN.append(task)
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        BRIGHTNESS.append(float(x.mean()))
        return torch.zeros(len(x), 4)


SPY = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [MethodSpec(name="spy", build=Spy, paper=Citation(authors="T", title="spy", year=2024))]
    )
)


def test_dann4_task_and_test_grid() -> None:
    registry = build_registry([("spy", SPY)])
    SEEN.clear()
    BRIGHTNESS.clear()
    spec = resolve(
        RunRequest(
            method="spy",
            dataset="synthetic",
            protocol="dann4",
            shift="noise",
            da_dataset="digits",
            da_shift="noise:0.6",
            test_intensities=(0.0, 0.5, 1.0),
            metrics=("accuracy",),
            n_bootstrap=0,
        ),
        registry,
    )
    assert spec.test_intensities == (0.0, 0.5, 1.0) and spec.da_dataset is not None
    result = run(spec, registry)
    task = SEEN[0]
    assert set(task.unlabeled) == {"C", "D"} and not task.source_in_domains and task.adapt_domain == "D"
    c, d = task.unlabeled["C"].images, task.unlabeled["D"].images
    assert c.shape[1:] == d.shape[1:] == (1, 16, 16)  # digits resized to the source's 16×16
    assert abs(len(c) - len(d)) <= 1 and len(c) + len(d) == 1258  # two halves of the digits train split (70%)
    assert float(d.mean()) > float(c.mean()) + 0.2  # D carries the DA shift
    assert list(result.metrics) == ["test@0", "test@0.5", "test@1"]
    assert len(SEEN) == 1 and sorted(BRIGHTNESS) == BRIGHTNESS  # one training, evaluated at every test intensity
    assert BRIGHTNESS[2] > BRIGHTNESS[0] + 0.3
    assert result.sizes["test_test@0.5"] == 400


def test_dann4_needs_a_single_named_test_shift(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match="one test shift"):
        resolve(RunRequest(method="dann", dataset="digits", protocol="dann4"), registry)
    with pytest.raises(SpecError, match="out of range"):
        resolve(
            RunRequest(method="dann", dataset="digits", protocol="dann4", shift="noise", test_intensities=(0.0, 50.0)),
            registry,
        )
    with pytest.raises(SpecError, match="belong to --protocol dann4"):
        resolve(RunRequest(method="dann", dataset="digits", da_shift="noise:0.1"), registry)
    uda = resolve(RunRequest(method="dann", dataset="digits", shift="noise:0.1"), registry)
    assert "da_shift" not in uda.canonical()  # plain UDA keys do not depend on the study fields
