"""The DANN study's 4-dataset protocol: A labelled, C/D unlabelled DA halves, B evaluated over a test grid."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from dabench import AdaptationTask, Citation, MethodSpec, SpecError, hookimpl
from dabench.registry import build_registry
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench_dann_study.protocol import DEFAULT_TEST_INTENSITIES

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


def _request(**kw: Any) -> RunRequest:
    return RunRequest(**{"method": "spy", "dataset": "synthetic", "protocol": "dann4", "shift": "noise", **kw})


def test_dann4_task_and_test_grid() -> None:
    registry = build_registry([("spy", SPY)])
    assert registry.protocols.providers["dann4"] == "dann_study"
    SEEN.clear()
    BRIGHTNESS.clear()
    request = _request(
        da_dataset="digits", da_shift="noise:0.6", test_intensities=(0.0, 0.5, 1.0), metrics=("accuracy",),
        n_bootstrap=0,
    )  # fmt: skip
    spec = resolve(request, registry)
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
    again = run(spec, registry)  # a pure function of the spec
    assert again.metrics["test@1"]["accuracy"].value == result.metrics["test@1"]["accuracy"].value


def test_dann4_resolves_its_own_fields(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match="one shift by name"):
        resolve(RunRequest(method="dann", dataset="digits", protocol="dann4"), registry)
    with pytest.raises(SpecError, match="one shift by name"):
        resolve(RunRequest(method="dann", dataset="digits", protocol="dann4", shift="noise+blur"), registry)
    with pytest.raises(SpecError, match="out of range"):
        resolve(
            RunRequest(method="dann", dataset="digits", protocol="dann4", shift="noise", test_intensities=(0.0, 50.0)),
            registry,
        )
    with pytest.raises(SpecError, match="--intensity does not apply to --protocol dann4"):
        resolve(RunRequest(method="dann", dataset="digits", protocol="dann4", shift="noise", intensity=0.5), registry)
    with pytest.raises(SpecError, match="give --test-intensities"):
        resolve(RunRequest(method="dann", dataset="digits", protocol="dann4", shift="jpeg"), registry)
    spec = resolve(RunRequest(method="dann", dataset="digits", protocol="dann4", shift="blur"), registry)
    assert spec.test_intensities == DEFAULT_TEST_INTENSITIES["blur"]  # the paper's kernels 1, 3, ..., 9
    assert spec.da_dataset is not None and spec.da_dataset.name == "digits"  # default: the training dataset
    assert [s.intensity for s in spec.shift] == [0.0] and spec.da_shift == ()
    options = resolve(
        RunRequest(method="dann", dataset="digits", protocol="dann4", shift="noise", test_intensities=(1.0, 0.0, 1)),
        registry,
    )
    assert options.test_intensities == (0.0, 1.0)


def test_study_inputs_are_refused_by_uda(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match="--da-shift does not apply to --protocol uda; protocols that take it: dann4"):
        resolve(RunRequest(method="dann", dataset="digits", da_shift="noise:0.1"), registry)
    uda = resolve(RunRequest(method="dann", dataset="digits", shift="noise:0.1"), registry)
    assert "da_shift" not in uda.canonical()  # plain UDA keys do not depend on the protocol inputs


def test_dann4_keys_are_unchanged_by_the_move(registry) -> None:  # type: ignore[no-untyped-def]
    """The protocol moved into a plugin; what a dann4 run records (and so its key) did not change."""
    spec = resolve(
        RunRequest(method="dann", dataset="digits", protocol="dann4", shift="noise", da_dataset="digits",
                   da_shift="noise:0.5", test_intensities=(0.0, 0.5)),
        registry,
    )  # fmt: skip
    canonical = spec.canonical()
    assert canonical["protocol"] == "dann4" and canonical["test_intensities"] == [0.0, 0.5]
    assert [s["intensity"] for s in canonical["da_shift"]] == [0.5] and canonical["da_dataset"]["name"] == "digits"
