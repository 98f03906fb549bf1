from __future__ import annotations

import types

import pytest

from dabench.errors import DuplicateNameError, UnknownComponentError
from dabench.hookspecs import hookimpl
from dabench.registry import Conflict, build_registry
from dabench.run.resolve import RunRequest, resolve
from dabench.runspec import ComponentRef
from dabench.specs import Citation, MethodSpec, MetricSpec

PAPER = Citation(authors="X", title="Y", year=2020)


def test_duplicate_name_is_a_conflict_not_a_crash() -> None:
    clash = types.SimpleNamespace(
        register_methods=hookimpl(lambda: [MethodSpec(name="dann", build=lambda p: None, paper=PAPER)])  # type: ignore
    )
    registry = build_registry([("zzz_clash", clash)], env={})
    assert registry.conflicts() == [Conflict("method", "dann", ("dann", "zzz_clash"))]
    assert "dann" not in registry.methods and "dann" not in registry.methods.names()
    assert "dann" not in registry.methods.providers  # neither provider wins silently
    assert "source_only" in registry.methods and "adabn" in registry.methods  # everything else still works
    with pytest.raises(DuplicateNameError) as info:
        registry.methods.get("dann")
    message = str(info.value)
    assert "'dann'" in message and "dann, zzz_clash" in message and "DABENCH_BLOCK_PLUGINS=" in message
    with pytest.raises(DuplicateNameError):
        resolve(RunRequest(method="dann", dataset="synthetic"), registry)
    unblocked = build_registry([("zzz_clash", clash)], env={"DABENCH_BLOCK_PLUGINS": "dann"})
    assert unblocked.conflicts() == [] and unblocked.methods.providers["dann"] == "zzz_clash"


def test_three_providers_and_a_repeat_within_one_plugin() -> None:
    def method_plugin(*names: str) -> types.SimpleNamespace:
        specs = [MethodSpec(name=n, build=lambda p: None, paper=PAPER) for n in names]  # type: ignore
        return types.SimpleNamespace(register_methods=hookimpl(lambda: specs))

    registry = build_registry(
        [("p1", method_plugin("same")), ("p2", method_plugin("same")), ("p3", method_plugin("same", "own"))],
        env={"DABENCH_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert registry.conflicts() == [Conflict("method", "same", ("p1", "p2", "p3"))]
    assert registry.methods.names() == ["own"] and registry.methods.providers["own"] == "p3"
    repeated = build_registry([("twice", method_plugin("x", "x"))], env={"DABENCH_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert repeated.conflicts() == [] and "x" not in repeated.methods
    assert any(i.name == "twice" and i.status == "failed" and "'x' more than once" in i.error for i in repeated.plugins)


def test_a_run_needing_a_conflicting_default_metric_fails_and_others_run() -> None:
    twin = MetricSpec(name="accuracy", fn=lambda y, s: 0.0, higher_is_better=True, bounds=(0.0, 1.0))
    registry = build_registry([("zzz_metrics", types.SimpleNamespace(register_metrics=hookimpl(lambda: [twin])))])
    assert "accuracy" in registry.default_metrics("classification")
    with pytest.raises(DuplicateNameError, match="core, zzz_metrics"):
        resolve(RunRequest(method="source_only", dataset="synthetic"), registry)
    other = next(m for m in registry.default_metrics("classification") if m != "accuracy")
    spec = resolve(RunRequest(method="source_only", dataset="synthetic", metrics=(other,)), registry)
    assert [m.name for m in spec.metrics] == [other]


def test_ref_and_shift_step_carry_the_provider(registry) -> None:  # type: ignore[no-untyped-def]
    ref = registry.ref("dataset", "digits", "x")
    info = registry.plugin("core")
    assert ref == ComponentRef(name="digits", version="1", domain="x", plugin=info.label(), code=info.code())
    step = registry.shift_step("noise", 0.5)
    assert (
        step.plugin == info.label() and step.intensity == 0.5 and step.version == registry.shifts.get("noise").version
    )
    with pytest.raises(UnknownComponentError):
        registry.ref("method", "nope")


def test_unknown_name_suggests_and_lists(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownComponentError) as info:
        registry.methods.get("dan")
    message = str(info.value)
    assert "Did you mean 'dann'?" in message and "source_only" in message and "dabench list methods" in message


def test_tables_are_sorted_and_know_providers(registry) -> None:  # type: ignore[no-untyped-def]
    assert registry.methods.names() == sorted(registry.methods.names())
    assert registry.methods.providers["dann"] == "dann"
    assert registry.datasets.providers["digits"] == "core"
    with pytest.raises(UnknownComponentError):
        registry.table("gadget")
