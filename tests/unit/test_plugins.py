"""Plugin loading: sorted, isolated entry points; allow/block lists; a broken plugin never bricks the rest."""

from __future__ import annotations

import signal
import sys
import types
from dataclasses import replace
from importlib import metadata
from pathlib import Path

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


def fake_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str) -> metadata.EntryPoint:
    """An entry point ``aaa_<module>`` (loaded first) for a one-file module written from ``source``."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    point = metadata.EntryPoint(name=f"aaa_{module}", value=module, group="dabench")
    real = plugins._entry_points()
    monkeypatch.setattr(plugins, "_entry_points", lambda: [point, *real])
    return point


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("raise SystemExit(3)\n", "SystemExit: the plugin called sys.exit(3) while loading"),
        ("import sys\nsys.exit()\n", "SystemExit"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
        ("class Odd(BaseException):\n    pass\nraise Odd('odd')\n", "Odd: odd"),
    ],
)
def test_import_time_exit_or_interrupt_is_isolated(
    source: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_entry_point(tmp_path, monkeypatch, "plugin_that_exits", source)
    registry = build_registry(env={})
    failed = [i for i in registry.plugins if i.status == "failed"]
    assert [i.name for i in failed] == ["aaa_plugin_that_exits"] and error in failed[0].error
    assert "dann" in registry.methods and "digits" in registry.datasets
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the SIGINT watch is undone


def test_a_real_ctrl_c_while_loading_still_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n"
    fake_entry_point(tmp_path, monkeypatch, "plugin_interrupted", source)
    with pytest.raises(KeyboardInterrupt):
        build_registry(env={})
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_exit_inside_a_register_hook_is_isolated() -> None:
    def leave() -> list[object]:
        raise SystemExit(1)

    registry = build_registry([("leaver", types.SimpleNamespace(register_methods=hookimpl(leave)))], env={})
    assert any(i.name == "leaver" and i.status == "failed" and "SystemExit" in i.error for i in registry.plugins)
    assert "source_only" in registry.methods


def test_hookimpl_matching_no_hook_is_reported_and_the_rest_loads() -> None:
    from dabench.builtins import register_shifts

    plugin = types.SimpleNamespace(
        register_method=hookimpl(lambda: []),
        gadget=hookimpl(lambda: []),
        maybe_later=hookimpl(optionalhook=True)(lambda: []),
        register_shifts=hookimpl(lambda: [replace(s, name=f"my_{s.name}") for s in register_shifts()][:1]),
    )
    registry = build_registry([("typo", plugin)], env={"DABENCH_DISABLE_PLUGIN_AUTOLOAD": "1"})
    info = registry.plugin("typo")
    assert info.status == "loaded" and len(info.warnings) == 2
    assert "hookimpl 'register_method' matches no dabench hook" in info.warnings[1]
    assert "did you mean 'register_methods'?" in info.warnings[1]
    assert "hookimpl 'gadget'" in info.warnings[0] and "valid hooks: register_analyses" in info.warnings[0]
    assert registry.shifts.names() and registry.shifts.providers[registry.shifts.names()[0]] == "typo"


def test_explicit_plugins_are_labelled_and_hashed() -> None:
    plugin = types.SimpleNamespace(register_methods=hookimpl(lambda: []))
    info = plugins.make_plugin_manager([("mine", plugin)], env={"DABENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}).infos[0]
    assert info.label() == plugins.EXPLICIT and info.sources == (str(Path(__file__).resolve()),)
    assert len(info.code()) == 16
