"""Real processes: the installed console script, and a third-party plugin installed with pip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FAST = ["--set", "epochs=1", "--set", "width=8", "--set", "hidden=16", "--n-bootstrap", "20"]


def dabench(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dabench", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_run_then_cache_hit_then_leaderboard(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    args = ["run", "--method", "dann", "--dataset", "synthetic", "--shift", "noise:0.5", "--store", store, *FAST]
    first = dabench(*args)
    assert first.returncode == 0, first.stderr
    second = dabench(*args)
    assert second.returncode == 0 and "cache hit" in second.stdout
    board = dabench("leaderboard", "--store", store)
    assert board.returncode == 0 and "| 1      | dann" in board.stdout


def test_unexpected_error_is_short_without_debug(tmp_path: Path) -> None:
    result = dabench("leaderboard", "--store", str(tmp_path), "--out", str(tmp_path))  # --out is a directory
    assert result.returncode == 2 and "Traceback" not in result.stderr and result.stderr.startswith("error:")


def test_help_and_list_do_not_import_torch() -> None:
    code = (
        "import sys; from dabench.cli import main; main(['list']); "
        "assert 'torch' not in sys.modules, 'dabench list imported torch'; "
        "assert 'ot' not in sys.modules, 'dabench list imported POT'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_third_party_plugin_is_listed_and_runs(example_plugin_path: Path, tmp_path: Path) -> None:
    env = {"PYTHONPATH": os.pathsep.join([str(example_plugin_path), os.environ.get("PYTHONPATH", "")])}
    listing = dabench("list", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "entmin" in listing.stdout and "[example]" in listing.stdout and "top2_accuracy" in listing.stdout
    plugins = dabench("plugins", env=env)
    assert "dabench-example" in plugins.stdout
    result = dabench(
        "run",
        "--method",
        "entmin",
        "--dataset",
        "synthetic",
        "--shift",
        "invert:0.5",
        "--store",
        str(tmp_path / "s"),
        *FAST,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "top2_accuracy" in result.stdout


@pytest.mark.parametrize("env", [{"DABENCH_BLOCK_PLUGINS": "example"}, {"DABENCH_PLUGINS": "core"}])
def test_third_party_plugin_can_be_blocked(example_plugin_path: Path, env: dict[str, str]) -> None:
    env = {**env, "PYTHONPATH": str(example_plugin_path)}
    listing = dabench("list", "methods", env=env)
    assert listing.returncode == 0 and "entmin" not in listing.stdout
