"""AdaBN: train on the source, then re-estimate every BatchNorm layer's statistics on the target domain
(plugin ``adabn``). Cheap to import; the torch code is in :mod:`dabench_adabn.method`.

References
----------
Li, Wang, Shi, Liu, Hou (2016/2018), Revisiting Batch Normalization For Practical Domain Adaptation
(ICLR workshop 2017; Pattern Recognition 2018). BatchNorm adaptation for FIB-SEM segmentation (Stenger et al.,
ISBI 2023; shared/papers/batchnorm-adaptation-fibsem-segmentation.txt): pass the target data through the network,
all parameters frozen, updating only the BN means and variances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dabench
from dabench.nn.hyperparams import TRAINING_DEFAULTS, TRAINING_RANGES, ParamRange

PAPER = dabench.Citation(
    authors="Yanghao Li, Naiyan Wang, Jianping Shi, Jiaying Liu, Xiaodi Hou",
    title="Revisiting Batch Normalization For Practical Domain Adaptation",
    year=2016,
    venue="arXiv:1603.04779; Pattern Recognition 80 (2018)",
    url="https://arxiv.org/abs/1603.04779",
)

DEFAULTS: dict[str, Any] = {**TRAINING_DEFAULTS, "adapt_batch_size": 256}
RANGES: dict[str, ParamRange] = {**TRAINING_RANGES, "adapt_batch_size": ParamRange(1)}


def build(params: Mapping[str, Any]) -> dabench.Method:
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
            version="1",
            description="Source training, then BatchNorm statistics re-estimated on the unlabelled target domain.",
        )
    ]
