"""AdaBN: train on the source, then re-estimate every BatchNorm layer's statistics on the target domain
(plugin ``adabn``). Cheap to import; the torch code is in :mod:`dabench_adabn.method`.

References
----------
Li, Wang, Shi, Liu, Hou (2016/2018), Revisiting Batch Normalization For Practical Domain Adaptation
(ICLR workshop 2017; Pattern Recognition 2018). BatchNorm adaptation for FIB-SEM segmentation (Stenger et al.,
ISBI 2023; shared/papers/batchnorm-adaptation-fibsem-segmentation.txt): pass the target data through the network,
all parameters frozen, updating only the BN means and variances.

Parameters beyond the shared training ones: ``adapt_batch_size`` (images per re-estimation pass) and ``estimator``
(``"exact"``: layer-sequential population statistics, the default; ``"running"``: one train-mode pass with cumulative
moving averages; see :mod:`dabench_adabn.estimators`). Segmentation runs train the U-Net and add its ``width`` /
``depth`` (and batch size, learning rate) defaults and ranges (``SEGMENTATION_DEFAULTS`` / ``_RANGES``, as
``source_only``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dabench
from dabench.nn.hyperparams import SEGMENTATION_DEFAULTS, SEGMENTATION_RANGES, TRAINING_DEFAULTS, ParamRange

PAPER = dabench.Citation(
    authors="Yanghao Li, Naiyan Wang, Jianping Shi, Jiaying Liu, Xiaodi Hou",
    title="Revisiting Batch Normalization For Practical Domain Adaptation",
    year=2016,
    venue="arXiv:1603.04779; Pattern Recognition 80 (2018)",
    url="https://arxiv.org/abs/1603.04779",
)

ESTIMATORS = ("exact", "running")
"""The valid values of the ``estimator`` parameter."""

DEFAULTS: dict[str, Any] = {**TRAINING_DEFAULTS, "adapt_batch_size": 256, "estimator": "exact"}
TASK_DEFAULTS: dict[str, dict[str, Any]] = {"segmentation": dict(SEGMENTATION_DEFAULTS)}
RANGES: dict[str, ParamRange] = {**SEGMENTATION_RANGES, "adapt_batch_size": ParamRange(1)}


def check_estimator(value: Any) -> str:
    """``value`` when it names an estimator; :class:`~dabench.SpecError` listing the valid ones otherwise."""
    if value not in ESTIMATORS:
        raise dabench.SpecError(
            f"adabn parameter estimator={value!r} is not valid: use one of {', '.join(ESTIMATORS)} "
            "(e.g. --set estimator=running)."
        )
    return str(value)


def build(params: Mapping[str, Any]) -> dabench.Method:
    check_estimator(params.get("estimator", "exact"))  # records older than the parameter have none: exact
    from dabench_adabn.method import AdaBN

    return AdaBN(params)


@dabench.hookimpl
def register_methods() -> Iterable[dabench.MethodSpec]:
    return [
        dabench.MethodSpec(
            name="adabn",
            build=build,
            paper=PAPER,
            defaults=DEFAULTS,
            param_ranges=RANGES,
            task_types=("classification", "segmentation"),
            task_defaults=TASK_DEFAULTS,
            version="1",
            description="Source training (a LeNet; a U-Net for segmentation), then every BatchNorm layer's statistics "
            "re-estimated on the unlabelled target domain (estimator: exact population statistics or a train-mode "
            "running average), each test domain with its own.",
        )
    ]
