"""Fixtures of the DANN study plugin's tests."""

from __future__ import annotations

import pytest

from dabench.registry import Registry, build_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Every installed plugin (the study plugin included), loaded once."""
    return build_registry()
