"""The CLI with misbehaving plugins: a name conflict, a misnamed hookimpl and an import-time ``sys.exit`` never
brick ``dabench plugins`` / ``dabench list``; only a command that needs the conflicting name fails (exit 2)."""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from dabench import Citation, MethodSpec, hookimpl
from dabench import registry as registry_module
from dabench.cli import main

CLASH = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [MethodSpec(name="dann", build=lambda p: None, paper=Citation(authors="F", title="Fork", year=2024))]
    ),
    register_method=hookimpl(lambda: []),
)


@pytest.fixture(autouse=True)
def with_clash(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry_module.build_registry

    def build(extra: Iterable[tuple[str, object]] = (), *, env: Mapping[str, str] | None = None) -> Any:
        return real([*extra, ("zzz_fork", CLASH)], env=env)

    monkeypatch.setattr(registry_module, "build_registry", build)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plugins_shows_the_conflict_and_the_misnamed_hook(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "| conflict " in rows["dann"] and "also in zzz_fork" in rows["dann"]
    assert "| conflict " in rows["zzz_fork"] and "also in dann" in rows["zzz_fork"]
    assert "did you mean 'register_methods'?" in rows["zzz_fork"]
    assert "| loaded " in rows["core"]
    assert "conflict: method 'dann' is registered by more than one plugin: dann, zzz_fork" in out
    assert "DABENCH_BLOCK_PLUGINS=" in out


def test_list_works_and_prints_the_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "list", "methods")
    assert code == 0 and "source_only" in out and "adabn" in out
    assert "[conflict: dann, zzz_fork]" in out and "DABENCH_BLOCK_PLUGINS=<name>" in out
    assert "conflict: method 'dann'" in err and "matches no dabench hook" in err


def test_only_a_command_needing_the_name_fails(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    code, _, err = run_cli(capsys, "run", "--method", "dann", "--dataset", "synthetic", "--store", str(tmp_path))
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert "dann, zzz_fork" in err and "DABENCH_BLOCK_PLUGINS" in err


def test_import_time_sys_exit_is_shown_as_failed(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import metadata

    from dabench import plugins

    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = metadata.EntryPoint(name="exiter", value="exits_on_import", group="dabench")
    real = plugins._entry_points()
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*real, point])
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0 and "| exiter " in out and "sys.exit(4)" in out and "| failed " in out
