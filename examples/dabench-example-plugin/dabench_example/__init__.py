"""Example third-party dabench plugin (entry point ``example`` in group ``dabench``). Cheap to import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

import dabench
from dabench.nn.hyperparams import TRAINING_DEFAULTS, TRAINING_RANGES

ENTMIN_PAPER = dabench.Citation(
    authors="Yves Grandvalet, Yoshua Bengio",
    title="Semi-supervised Learning by Entropy Minimization",
    year=2004,
    venue="NeurIPS",
)


def build_entmin(params: Mapping[str, Any]) -> dabench.Method:
    from dabench_example.method import EntropyMinimisation

    return EntropyMinimisation(params)


def invert(images: Any, intensity: float, random: dabench.ShiftRandom, state: object = None) -> Any:
    """``(1 - i)·x + i·(1 - x)``: 0 is the identity, 1 the photographic negative."""
    return images * (1.0 - 2.0 * intensity) + intensity


def top2_accuracy(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Share of samples whose label is among the two highest-scoring classes."""
    top2 = np.argsort(-y_score, axis=1, kind="stable")[:, :2]
    return float(np.mean((top2 == y_true[:, None]).any(axis=1)))


@dabench.hookimpl
def register_methods() -> Iterable[dabench.MethodSpec]:
    return [
        dabench.MethodSpec(
            name="entmin",
            build=build_entmin,
            paper=ENTMIN_PAPER,
            defaults={**TRAINING_DEFAULTS, "entropy_weight": 0.1},
            param_ranges={**TRAINING_RANGES, "entropy_weight": (0.0, None)},
            description="Entropy minimisation on the unlabelled target (example plugin).",
        )
    ]


@dabench.hookimpl
def register_shifts() -> Iterable[dabench.ShiftSpec]:
    return [
        dabench.ShiftSpec(
            name="invert",
            apply=invert,
            intensity_range=(0.0, 1.0),
            description="Blend towards the negative image (example plugin).",
        )
    ]


@dabench.hookimpl
def register_metrics() -> Iterable[dabench.MetricSpec]:
    return [
        dabench.MetricSpec(
            name="top2_accuracy",
            fn=top2_accuracy,
            higher_is_better=True,
            bounds=(0.0, 1.0),
            description="Top-2 accuracy (example plugin).",
        )
    ]
