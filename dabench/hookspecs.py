"""The hooks a dabench plugin may implement. Every hook is a collecting hook with no arguments that returns an
iterable of frozen spec objects; results from all plugins are gathered (never ``firstresult``: load order must never
pick a winner), and two components with one name are an error naming both plugins.

Document a new hook in ``docs/writing-a-plugin.md`` and test it; ``tests/meta`` fails otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from dabench.benefitspecs import BenefitPredictorSpec
    from dabench.specs import DatasetSpec, MethodSpec, MetricSpec, ShiftSpec, ValidatorSpec
    from dabench.studyspecs import AnalysisSpec, ProtocolSpec

PROJECT = "dabench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_datasets() -> Iterable[DatasetSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.DatasetSpec` objects this plugin provides."""


@hookspec
def register_shifts() -> Iterable[ShiftSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.ShiftSpec` objects this plugin provides."""


@hookspec
def register_methods() -> Iterable[MethodSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.MethodSpec` objects this plugin provides (each cites its paper)."""


@hookspec
def register_metrics() -> Iterable[MetricSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.MetricSpec` objects this plugin provides."""


@hookspec
def register_validators() -> Iterable[ValidatorSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.ValidatorSpec` objects (unsupervised model-selection scores) this plugin provides."""


@hookspec
def register_protocols() -> Iterable[ProtocolSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.ProtocolSpec` objects (how a run's data becomes the task a method sees and its
    labelled test domains) this plugin provides; a study plugin contributes its paper's protocol this way."""


@hookspec
def register_analyses() -> Iterable[AnalysisSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.AnalysisSpec` objects (stored records -> tables, fits, figures) this plugin
    provides; ``dabench analyze`` runs every one that applies to a store's records."""


@hookspec
def register_benefit_predictors() -> Iterable[BenefitPredictorSpec]:  # type: ignore[empty-body]
    """Return the :class:`~dabench.BenefitPredictorSpec` objects (label-free estimates of a target score and of
    adaptation benefit, computed in source-only runs that ask for them) this plugin provides."""
