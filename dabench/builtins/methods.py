"""The built-in ``source_only`` method: empirical risk minimisation on the labelled source, no adaptation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dabench.builtins.citations import ERM
from dabench.nn.hyperparams import TRAINING_DEFAULTS, TRAINING_RANGES
from dabench.specs import Method, MethodSpec


def build_source_only(params: Mapping[str, Any]) -> Method:
    from dabench.nn.training import SupervisedTraining

    return SupervisedTraining(params)


METHODS = (
    MethodSpec(
        name="source_only",
        build=build_source_only,
        paper=ERM,
        defaults=dict(TRAINING_DEFAULTS),
        param_ranges=TRAINING_RANGES,
        description="Train on the labelled source only (ERM); the baseline every adaptation must beat.",
    ),
)
