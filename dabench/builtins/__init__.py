"""The ``core`` plugin: embedded datasets, generic shifts, metrics, validators, and the
``source_only`` and ``majority_class`` baselines.

It is loaded through the ``dabench`` entry-point group exactly like a third-party plugin. Importing it is cheap:
specs only, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from dabench.builtins.datasets import DATASETS
from dabench.builtins.methods import METHODS
from dabench.builtins.metrics import METRICS
from dabench.builtins.protocols import PROTOCOLS
from dabench.builtins.shifts import SHIFTS
from dabench.builtins.validators import VALIDATORS
from dabench.hookspecs import hookimpl
from dabench.specs import DatasetSpec, MethodSpec, MetricSpec, ShiftSpec, ValidatorSpec
from dabench.studyspecs import ProtocolSpec


@hookimpl
def register_datasets() -> Iterable[DatasetSpec]:
    return DATASETS


@hookimpl
def register_shifts() -> Iterable[ShiftSpec]:
    return SHIFTS


@hookimpl
def register_methods() -> Iterable[MethodSpec]:
    return METHODS


@hookimpl
def register_metrics() -> Iterable[MetricSpec]:
    return METRICS


@hookimpl
def register_validators() -> Iterable[ValidatorSpec]:
    return VALIDATORS


@hookimpl
def register_protocols() -> Iterable[ProtocolSpec]:
    """The core ``uda`` protocol (study plugins add theirs the same way)."""
    return PROTOCOLS
