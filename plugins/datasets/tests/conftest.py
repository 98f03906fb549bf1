"""Shared fixtures: the real data root (tests using it skip when DABENCH_DATA is unset or missing) and a loader
context factory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dabench import DatasetSplits, LoadContext
from dabench.run.validation import validate_splits
from dabench_datasets.catalog import DATASETS

SPECS = {spec.name: spec for spec in DATASETS}


@pytest.fixture
def data_root() -> Path:
    """The shared data root; the test is skipped when it is not available."""
    value = os.environ.get("DABENCH_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("real data root not available (set DABENCH_DATA)")
    return Path(value)


Loader = Callable[..., DatasetSplits]


@pytest.fixture
def load() -> Loader:
    """``load(name, root, domain=None, seed=0, raw=False)`` runs a registered dataset's loader and, unless ``raw``,
    the checks every run applies to a load (``dabench.run.validation.validate_splits``), as ``DataSource.load`` does."""

    def run(name: str, root: Path | None, domain: str | None = None, seed: int = 0, raw: bool = False) -> DatasetSplits:
        splits = SPECS[name].load(LoadContext(root=root, rng=np.random.default_rng(seed), domain=domain))
        if raw:
            return splits
        return validate_splits(SPECS[name], splits, label=f"{name}:{domain}" if domain else name, root=root)

    return run


@pytest.fixture
def need(data_root: Path) -> Callable[[str], Path]:
    """``need(folder)`` is ``data_root / folder``, skipping the test when that folder is absent."""

    def check(folder: str) -> Path:
        if not (data_root / folder).is_dir():
            pytest.skip(f"{folder}/ not in the data root")
        return data_root / folder

    return check
