"""Plugin loading: sorted, isolated entry points; allow/block lists; a broken plugin never bricks the rest."""

from __future__ import annotations

import types
from importlib import metadata

import pytest

from dabench import plugins
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry


def test_builtins_load_through_entry_points() -> None:
    loaded = plugins.make_plugin_manager(env={})
    names = [info.name for info in loaded.infos]
    assert names == sorted(names)
    assert {"core", "dann", "adabn"} <= {i.name for i in loaded.infos if i.status == "loaded"}
    assert all(i.distribution == "dabench" for i in loaded.infos if i.name in {"core", "dann", "adabn"})


def test_disable_autoload_allow_and_block_lists() -> None:
    assert build_registry(env={"DABENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}).methods.names() == []
    only_core = build_registry(env={"DABENCH_PLUGINS": "core"})
    assert "source_only" in only_core.methods and "dann" not in only_core.methods
    blocked = build_registry(env={"DABENCH_BLOCK_PLUGINS": "dann, adabn"})
    assert "dann" not in blocked.methods and "adabn" not in blocked.methods and "source_only" in blocked.methods
    assert {i.name for i in blocked.plugins if i.status == "blocked"} == {"dann", "adabn"}


def test_broken_entry_point_is_reported_and_others_work(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plugins._entry_points()
    broken = metadata.EntryPoint(name="aaa_broken", value="dabench_no_such_module_xyz", group="dabench")
    monkeypatch.setattr(plugins, "_entry_points", lambda: sorted([*real, broken], key=lambda e: e.name))
    registry = build_registry(env={})
    failed = [i for i in registry.plugins if i.status == "failed"]
    assert [i.name for i in failed] == ["aaa_broken"] and "ModuleNotFoundError" in failed[0].error
    assert "dann" in registry.methods and "digits" in registry.datasets


def test_broken_hook_is_reported_and_others_work() -> None:
    bad = types.SimpleNamespace(register_methods=hookimpl(lambda: 1 / 0))
    registry = build_registry([("bad", bad)], env={})
    assert any(i.name == "bad" and "ZeroDivisionError" in i.error for i in registry.plugins)
    assert "source_only" in registry.methods


def test_wrong_return_type_is_reported() -> None:
    bad = types.SimpleNamespace(register_shifts=hookimpl(lambda: ["not a spec"]))
    registry = build_registry([("weird", bad)], env={})
    assert any(i.name == "weird" and "expected ShiftSpec" in i.error for i in registry.plugins)
