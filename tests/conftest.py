"""Shared fixtures: the registry, a temporary store, the data root, and the example third-party plugin installed
with pip into a temporary folder (so its entry point is discovered exactly like an installed distribution's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = REPO / "examples" / "dabench-example-plugin"


def pytest_configure(config: pytest.Config) -> None:
    """A ``DABENCH_DATA`` that is not a folder would turn every CLI test into a data-root error: treat it as unset
    (real-data tests then skip, as when no data is available)."""
    value = os.environ.get("DABENCH_DATA")
    if value is not None and not Path(value).is_dir():
        os.environ.pop("DABENCH_DATA")


def data_root() -> Path | None:
    """The shared data root (``DABENCH_DATA``), or None when it is not available here."""
    value = os.environ.get("DABENCH_DATA")
    return Path(value) if value and Path(value).is_dir() else None


@pytest.fixture(scope="session")
def example_plugin_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the example plugin into a temp dir once per session (not on ``sys.path``)."""
    target = tmp_path_factory.mktemp("third_party")
    source = tmp_path_factory.mktemp("example_source") / "dabench-example-plugin"
    shutil.copytree(EXAMPLE_PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))  # build outside
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


@pytest.fixture
def example_plugin_path(example_plugin_install: Path) -> Iterator[Path]:
    """The installed example plugin on ``sys.path`` for one test only, so its components (e.g. the metric
    ``top2_accuracy``, which joins the default metrics and so every run key) never leak into other tests."""
    import importlib

    sys.path.insert(0, str(example_plugin_install))
    importlib.invalidate_caches()
    try:
        yield example_plugin_install
    finally:
        sys.path.remove(str(example_plugin_install))
        importlib.invalidate_caches()


@pytest.fixture(scope="session")
def registry():  # type: ignore[no-untyped-def]
    from dabench.registry import build_registry

    return build_registry(env={**os.environ, "DABENCH_BLOCK_PLUGINS": "example"})
