from __future__ import annotations

import types

import pytest

from dabench.errors import DuplicateNameError, UnknownComponentError
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.specs import Citation, MethodSpec

PAPER = Citation(authors="X", title="Y", year=2020)


def test_duplicate_names_raise_naming_both_plugins() -> None:
    clash = types.SimpleNamespace(
        register_methods=hookimpl(lambda: [MethodSpec(name="dann", build=lambda p: None, paper=PAPER)])  # type: ignore
    )
    with pytest.raises(DuplicateNameError) as info:
        build_registry([("zzz_clash", clash)], env={})
    assert "'dann'" in str(info.value) and "dann" in str(info.value) and "zzz_clash" in str(info.value)


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
