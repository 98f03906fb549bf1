"""The ``datasets`` plugin: real medical and digit datasets read from their original published files, generic
loaders for a user's own data (MedMNIST npz, ImageFolder) and synthetic generators (Perlin masks, black images).

Importing it is cheap: specs only (:mod:`dabench_datasets.catalog`); readers import numpy, torch and Pillow lazily.
"""

from __future__ import annotations

from collections.abc import Iterable

import dabench
from dabench_datasets.catalog import DATASETS


@dabench.hookimpl
def register_datasets() -> Iterable[dabench.DatasetSpec]:
    """Every dataset of this plugin (see ``dabench list datasets``)."""
    return DATASETS
