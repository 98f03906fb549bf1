"""DANN: domain-adversarial training with a gradient reversal layer (plugin ``dann``).

Cheap to import: the spec and hook only; the torch implementation lives in :mod:`dabench_dann.method`.

References
----------
Ganin & Lempitsky (2015), Unsupervised Domain Adaptation by Backpropagation, ICML.
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt): domain
classifier on the feature extractor through a GRL, trained on a mix of DA datasets, simultaneously with the task.

Version 2 passes each domain's batch through the feature extractor separately (``bn_mode = "per_domain"``) so that
BatchNorm statistics are per domain and the test-time running statistics come from the source only; version 1's
single mixed batch is ``bn_mode = "joint"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dabench
from dabench.nn.hyperparams import TRAINING_DEFAULTS, TRAINING_RANGES, ParamRange

PAPER = dabench.Citation(
    authors="Yaroslav Ganin, Victor Lempitsky",
    title="Unsupervised Domain Adaptation by Backpropagation",
    year=2015,
    venue="ICML",
    url="https://proceedings.mlr.press/v37/ganin15.html",
)

DEFAULTS: dict[str, Any] = {
    **TRAINING_DEFAULTS,
    "gamma": 10.0,  # λ_p = 2 / (1 + exp(-γ p)) - 1
    "lambda_max": 1.0,  # scales the schedule (the study's DA weight)
    "domain_hidden": 100,
    "domain_loss_weight": 1.0,
    "bn_mode": "per_domain",  # or "joint" (version 1): see dabench_dann.method
}

RANGES: dict[str, ParamRange] = {
    **TRAINING_RANGES,
    "gamma": ParamRange(0),
    "lambda_max": ParamRange(0),
    "domain_hidden": ParamRange(1),
    "domain_loss_weight": ParamRange(0),
}


def build(params: Mapping[str, Any]) -> dabench.Method:
    from dabench_dann.method import DANN

    return DANN(params)


@dabench.hookimpl
def register_methods() -> Iterable[dabench.MethodSpec]:
    return [
        dabench.MethodSpec(
            name="dann",
            build=build,
            paper=PAPER,
            defaults=DEFAULTS,
            param_ranges=RANGES,
            version="2",
            description="Domain-adversarial training: gradient reversal layer + domain classifier on features, "
            "λ schedule 2/(1+exp(-γp))-1 and Ganin's learning-rate annealing; bn_mode per_domain (default: one "
            "forward pass per domain, BN running statistics from the source only) or joint (version 1).",
        )
    ]
