"""The ``register_protocols`` hook: protocols are a plugin kind — the core's ``uda`` and any plugin's — resolved,
listed and looked up through the registry."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from dabench import (
    AdaptationTask,
    Citation,
    DuplicateNameError,
    MethodSpec,
    ProtocolInputs,
    ProtocolSpec,
    SpecError,
    UnknownComponentError,
    hookimpl,
)
from dabench.cli import main
from dabench.registry import Registry, build_registry
from dabench.run.protocols import ProtocolContext
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run

SEEN: list[AdaptationTask] = []


class Spy:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: AdaptationTask, **kwargs: object) -> Spy:
        SEEN.append(task)
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 4)


def build_grid(spec: Any, ctx: ProtocolContext) -> Any:
    """A third-party protocol: the labelled source only, tested clean-and-shifted over a grid."""
    source, target, num_classes = ctx.splits(spec)
    train = ctx.to_float(source.train)
    task = AdaptationTask(source=train, unlabeled={}, num_classes=num_classes, input_shape=(1, 16, 16))
    return task, ctx.shift_grid(ctx.to_float(target.test), spec.shift, spec.test_intensities, "shift/test")


def resolve_grid(request: Any, ctx: Any) -> ProtocolInputs:
    if not request.test_intensities:
        raise SpecError("protocol grid needs --test-intensities")
    return ProtocolInputs(shift=ctx.shift_chain(request.shift or "noise:0"), test_intensities=request.test_intensities)


GRID = ProtocolSpec(name="grid", build=build_grid, resolve=resolve_grid, takes=("test_intensities",), version="1")
PLUGIN = types.SimpleNamespace(
    register_protocols=hookimpl(lambda: [GRID]),
    register_methods=hookimpl(
        lambda: [MethodSpec(name="spy", build=Spy, paper=Citation(authors="T", title="spy", year=2024))]
    ),
)
ONLY_CORE = {"DABENCH_PLUGINS": "core"}


@pytest.fixture(scope="module")
def grid_registry() -> Registry:
    return build_registry([("grid_plugin", PLUGIN)], env=ONLY_CORE)


def test_uda_is_the_core_protocol(grid_registry: Registry) -> None:
    uda = grid_registry.protocols.get("uda")
    assert grid_registry.protocols.providers["uda"] == "core" and uda.takes == () and uda.paper is not None
    assert grid_registry.protocols.names() == ["grid", "uda"]


def test_a_plugin_protocol_runs_through_the_core(grid_registry: Registry) -> None:
    SEEN.clear()
    request = RunRequest(method="spy", dataset="synthetic", protocol="grid", test_intensities=(0.0, 0.5),
                         metrics=("accuracy",), n_bootstrap=0)  # fmt: skip
    spec = resolve(request, grid_registry)
    assert spec.protocol == "grid" and spec.test_intensities == (0.0, 0.5) and spec.da_dataset is None
    result = run(spec, grid_registry)
    assert list(result.metrics) == ["test@0", "test@0.5"] and SEEN[0].unlabeled == {}
    with pytest.raises(SpecError, match="needs --test-intensities"):
        resolve(RunRequest(method="spy", dataset="synthetic", protocol="grid"), grid_registry)


def test_names_and_inputs_are_checked_against_the_registry(grid_registry: Registry) -> None:
    with pytest.raises(UnknownComponentError, match=r"Did you mean 'grid'\?.*Valid protocols: grid, uda"):
        resolve(RunRequest(method="spy", dataset="synthetic", protocol="gird"), grid_registry)
    with pytest.raises(SpecError, match="--da-dataset does not apply to --protocol grid; protocols that take it: "):
        resolve(RunRequest(method="spy", dataset="synthetic", protocol="grid", da_dataset="digits"), grid_registry)
    with pytest.raises(SpecError, match=r"--test-intensities does not apply to --protocol uda; .*: grid"):
        resolve(RunRequest(method="spy", dataset="synthetic", test_intensities=(0.0,)), grid_registry)


def test_protocol_specs_are_validated() -> None:
    with pytest.raises(SpecError, match="invalid"):
        ProtocolSpec(name="Bad-Name", build=build_grid)
    with pytest.raises(SpecError, match="not protocol inputs"):
        ProtocolSpec(name="odd", build=build_grid, takes=("colour",))
    broken = ProtocolSpec(name="broken", build=build_grid, resolve=lambda request, ctx: {"shift": ()})  # type: ignore[arg-type,return-value]
    registry = build_registry([("b", types.SimpleNamespace(register_protocols=hookimpl(lambda: [broken])))])
    with pytest.raises(SpecError, match=r"resolve returned dict, expected dabench\.ProtocolInputs"):
        resolve(RunRequest(method="source_only", dataset="synthetic", protocol="broken"), registry)


def test_two_plugins_with_one_protocol_name_conflict() -> None:
    twin = types.SimpleNamespace(register_protocols=hookimpl(lambda: [GRID]))
    registry = build_registry([("one", PLUGIN), ("two", twin)], env=ONLY_CORE)
    with pytest.raises(DuplicateNameError, match="one, two"):
        registry.protocols.get("grid")
    assert [c.name for c in registry.conflicts()] == ["grid"]


def test_list_protocols_shows_them(
    grid_registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("dabench.cli.catalog.load_registry", lambda: grid_registry)
    assert main(["list", "protocols"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("protocols:") and "grid" in out and "uda                [core]" in out
