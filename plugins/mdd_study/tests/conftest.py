"""Fixtures of the MDD study plugin's tests."""

from __future__ import annotations

import pytest

import dabench_mdd_study
from dabench.registry import Registry, build_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Every installed plugin with the study plugin, loaded once (passed explicitly when it is not installed)."""
    installed = build_registry()
    if "target_halves" in installed.protocols.providers:
        return installed
    return build_registry([("mdd_study", dabench_mdd_study)])
