"""The project's own rules: every hook documented and tested, ``__all__`` resolves, plugins use the public API."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import dabench
from dabench import hookspecs

REPO = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = {
    "dabench",
    "dabench.testing",
    "dabench.nn.models",
    "dabench.nn.training",
    "dabench.nn.hyperparams",
    "dabench.nn.resnet",
    "dabench.nn.resnet_unet",
    "dabench.nn.checkpoints",
    # the building blocks a study plugin (protocol + analysis) reuses
    "dabench.run.protocols",
    "dabench.stats.fitting",
    "dabench.stats.precision",
    "dabench.stats.derived",
    "dabench.report.figures",
    "dabench.report.markdown",
}
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]


def test_hooks_exist() -> None:
    assert {"register_datasets", "register_shifts", "register_methods", "register_metrics"} <= set(HOOKS)
    assert {"register_protocols", "register_analyses"} <= set(HOOKS)  # studies are plugins too


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook: str) -> None:
    assert (getattr(hookspecs, hook).__doc__ or "").strip(), f"{hook} has no docstring"
    guide = (REPO / "docs" / "writing-a-plugin.md").read_text()
    assert f"### `{hook}`" in guide, f"{hook} is not documented in docs/writing-a-plugin.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_tested(hook: str) -> None:
    test_files = [p for p in (REPO / "tests").rglob("test_*.py") if "meta" not in p.parts]
    kind = hook.removeprefix("register_").rstrip("s")
    assert any(hook in p.read_text() or f"check_{kind}" in p.read_text() for p in test_files), f"{hook} untested"


def test_public_modules_exist() -> None:
    import importlib

    for name in sorted(PUBLIC_MODULES):
        importlib.import_module(name)


def test_the_core_names_no_study() -> None:
    """Studies are plugins: the core's modules no longer hold a study's protocol, decomposition or figures."""
    core = REPO / "dabench"
    for gone in ("analysis.py", "analysis_report.py", "plots.py", "domain_groups.py"):
        assert not (core / gone).exists(), f"dabench/{gone} belongs to a study plugin"
    assert "def build_dann4" not in (core / "run" / "protocols.py").read_text()


def test_all_resolves() -> None:
    for name in dabench.__all__:
        assert hasattr(dabench, name), f"dabench.__all__ lists {name!r} but it is missing"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


PLUGIN_FILES = sorted(
    p for p in [*(REPO / "plugins").rglob("dabench_*/**/*.py"), *(REPO / "examples").rglob("dabench_*/**/*.py")]
)


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_use_only_the_public_api(path: Path) -> None:
    private = [m for m in _imports(path) if m.startswith("dabench.") and m not in PUBLIC_MODULES]
    assert not private, f"{path.name} imports private modules {private}; use {sorted(PUBLIC_MODULES)}"


def test_plugin_entry_modules_are_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dabench.builtins, dabench_dann, dabench_adabn, dabench_datasets, dabench_dann_study, dabench_mdd, "
        "dabench_mdd_study, dabench_bn_study, dabench_mlan, dabench_mlan_study, dabench_stargan, "
        "dabench_stargan_study, dabench_digits3, dabench.predictors.builtin; "
        "heavy = [m for m in ('torch', 'torchvision', 'ot', 'PIL', 'sklearn', 'matplotlib') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_ci_runs_the_readme_test_command_and_fails_when_it_fails() -> None:
    import re

    readme, ci = (REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()
    command = next(line for line in readme.splitlines() if "pytest -q" in line and line.startswith("python3 -m venv"))
    assert command in ci, "the CI script must run the README's test command as written"
    line = next(line for line in ci.splitlines() if command in line)
    assert re.search(r"\|\|\s*exit\s+1\s*$", line), "a failed install inside the && chain must fail CI"
