"""Fixtures of the multi-level adversarial segmentation study's tests."""

from __future__ import annotations

import pytest

import dabench_mlan_study
from dabench.registry import Registry, build_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Every installed plugin with the study plugin (passed explicitly when it is not installed)."""
    installed = build_registry()
    if "foreground_uda" in installed.protocols.providers:
        return installed
    return build_registry([("mlan_study", dabench_mlan_study)])
