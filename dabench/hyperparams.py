"""Shared training hyperparameters of the built-in methods, so baselines and adaptation methods train alike.

The SGD schedule is Ganin & Lempitsky (2015): ``lr_p = lr / (1 + alpha·p)^beta`` with training progress
``p`` in [0, 1] (``alpha = 10``, ``beta = 0.75``), momentum 0.9.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

TRAINING_DEFAULTS: MappingProxyType[str, Any] = MappingProxyType(
    {
        "epochs": 15,
        "batch_size": 64,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "lr_alpha": 10.0,
        "lr_beta": 0.75,
        "width": 32,
        "hidden": 100,
    }
)
