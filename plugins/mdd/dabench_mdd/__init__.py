"""MDD: margin disparity discrepancy with a ResNet-18 backbone, as in the blood-cell paper (plugin ``mdd``).

Cheap to import: the spec and hook only; the torch implementation lives in :mod:`dabench_mdd.method` (model, loss,
training loop) and :mod:`dabench_mdd.augment` (the paper's augmentations).

References
----------
Zhang, Liu, Long & Jordan (2019), Bridging Theory and Algorithm for Domain Adaptation, ICML: the margin disparity
discrepancy, its minimax objective with an auxiliary classifier f′ behind a gradient reversal layer.
The blood-cell paper (shared/papers/mdd-blood-cell-classification.txt): MDD with ResNet-18 for white-blood-cell
classification across labs — η = 1, γ = 4, class weights ∝ 1 / source frequency, batch 32, learning rate 1e-3
decayed ×0.1 every 20 epochs, 50 epochs, its augmentation list and normalisation constants from the source, GRL warm
start; macro-F1 on an unlabelled adaptation half (WBC1) and a held-out half (WBC2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dabench
from dabench.nn.hyperparams import ParamRange

PAPER = dabench.Citation(
    authors="Yuchen Zhang, Tianle Liu, Mingsheng Long, Michael I. Jordan",
    title="Bridging Theory and Algorithm for Domain Adaptation",
    year=2019,
    venue="ICML",
    url="https://proceedings.mlr.press/v97/zhang19i.html",
)

BLOOD_CELL_PAPER = dabench.Citation(
    authors="Konstantins Starovoitovs",
    title="Domain adaptation with an adversarial algorithm for blood cell classification",
    year=2023,  # not stated in the text; it cites work from 2022
    venue="shared/papers/mdd-blood-cell-classification.txt",
)

DEFAULTS: dict[str, Any] = {
    "epochs": 50,
    "batch_size": 32,  # source images per step; as many target images
    "lr": 1e-3,
    "lr_step": 20,  # epochs between learning-rate decays
    "lr_gamma": 0.1,
    "momentum": 0.9,  # SGD, Nesterov (the MDD reference's optimiser)
    "weight_decay": 5e-4,
    "dropout": 0.5,
    "bottleneck": 1024,
    "trade_off": 1.0,  # η
    "margin": 4.0,  # γ
    "grl_alpha": 1.0,
    "grl_lo": 0.0,
    "grl_hi": 0.1,
    "grl_max_iters": 1000,
    "weights": "",  # path of a local torchvision resnet18 state dict; "" = from scratch
    "augment": True,  # the paper's augmentations on source and target training batches
}

RANGES: dict[str, ParamRange] = {
    "epochs": ParamRange(1),
    "batch_size": ParamRange(1),
    "lr": ParamRange(0, low_open=True),
    "lr_step": ParamRange(1),
    "lr_gamma": ParamRange(0, 1, low_open=True),
    "momentum": ParamRange(0, 1, high_open=True),
    "weight_decay": ParamRange(0),
    "dropout": ParamRange(0, 1, high_open=True),
    "bottleneck": ParamRange(1),
    "trade_off": ParamRange(0),
    "margin": ParamRange(0),
    "grl_alpha": ParamRange(0),
    "grl_lo": ParamRange(0),
    "grl_hi": ParamRange(0),
    "grl_max_iters": ParamRange(1),
}


def build(params: Mapping[str, Any]) -> dabench.Method:
    from dabench_mdd.method import MDD

    return MDD(params)


@dabench.hookimpl
def register_methods() -> Iterable[dabench.MethodSpec]:
    return [
        dabench.MethodSpec(
            name="mdd",
            build=build,
            paper=PAPER,
            defaults=DEFAULTS,
            param_ranges=RANGES,
            version="1",
            description="Margin disparity discrepancy (Zhang et al. 2019) as in the blood-cell paper: ResNet-18 from "
            "scratch (or weights=PATH), bottleneck + BN + ReLU + dropout, main head f and adversarial head f′ behind "
            "a warm-start GRL; class-weighted source CE + η·[γ·CE(f′, ŷ_s) − log(1 − f′_t[ŷ_t])]; SGD Nesterov, lr "
            "×0.1 every lr_step epochs; the paper's augmentations; normalisation from the source.",
        )
    ]
