"""Multi-level adversarial network for domain adaptive segmentation, with the paper's baselines and ablations
(plugin ``mlan``).

Cheap to import: the spec and hook only; the torch implementation lives in :mod:`dabench_mlan.discriminators` (De,
Dd, Ds and the conventional discriminator of the baselines) and :mod:`dabench_mlan.method` (losses, the
alternating iteration, the staged training).

One method, ``mlan``; the parameter ``discriminators`` picks the variant (:data:`VARIANTS`): ``none`` (the paper's
"Origin": the segmenter G alone), ``s`` / ``e`` / ``d`` / ``ed`` / ``sed`` (UDA-s, -e, -d, -ed and the full method,
"ours"; SDA-s and SDA-sed under a supervised protocol), ``sf4`` / ``sf9`` (SF-4 / SF-9: one conventional
discriminator on f4 or on f9) and ``afc`` (AFC, Kamnitsas et al.: all maps centre-cropped to the smallest size and
concatenated into one conventional discriminator). Supervised DA is decided by the task: a task with
``target_labeled`` (an SDA protocol) trains G on source and target masks.

References
----------
Multi-level adversarial network for domain adaptive glomeruli segmentation; Chuang Zhu (corresponding author) et
al., arXiv 2002.08587, 2020 (shared/papers/multilevel-adversarial-glomeruli-segmentation.txt; the text gives no
title line, the title is the arXiv one): G = U-Net with a ResNet-34 encoder, mirrored multi-level discriminators
De / Dd and a ResNet-18 shape discriminator Ds (§2.1), ``L_full = L_seg − αe·L_De − αd·L_Dd − αs·L_Ds`` (eq. 4),
the staged schedule (§2.2) and its settings: Adam 1e-3, β = (0.9, 0.999), batch 4, s0 = 50, d0 = 10, 100
alternating epochs, αe = 0.01, αd = 0.05, αs = 0.1 (§3.1).
Kamnitsas K. et al. (2017), Unsupervised domain adaptation in brain lesion segmentation with adversarial networks,
IPMI (the AFC baseline: multi-layer maps cropped and concatenated into one domain discriminator).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dabench
from dabench.nn.hyperparams import ParamRange

PAPER = dabench.Citation(
    authors="Chuang Zhu (corresponding author) et al.",
    title="Multi-level adversarial network for domain adaptive glomeruli segmentation",
    year=2020,
    venue="arXiv 2002.08587 (shared/papers/multilevel-adversarial-glomeruli-segmentation.txt)",
    url="https://arxiv.org/abs/2002.08587",
)

VARIANTS: dict[str, tuple[str, ...]] = {
    "none": (),
    "s": ("s",),
    "e": ("e",),
    "d": ("d",),
    "ed": ("e", "d"),
    "sed": ("s", "e", "d"),
    "sf4": ("f4",),
    "sf9": ("f9",),
    "afc": ("afc",),
}
"""``discriminators`` value -> the discriminators it trains: ``s`` = Ds (shape), ``e`` = De, ``d`` = Dd (mirrored
multi-level), ``f4`` / ``f9`` = one conventional discriminator on that map, ``afc`` = one on all maps cropped and
concatenated."""

ALPHA_OF: dict[str, str] = {
    "s": "alpha_s",
    "e": "alpha_e",
    "d": "alpha_d",
    "f4": "alpha_c",
    "f9": "alpha_c",
    "afc": "alpha_c",
}
"""The parameter weighting each discriminator's loss in G's objective (``alpha_c``: the baselines', which the paper
does not give)."""

DEFAULTS: dict[str, Any] = {
    "discriminators": "sed",
    "g_epochs": 50,  # s0: G alone on L_seg
    "d_epochs": 10,  # d0: the discriminators alone, G frozen
    "adv_epochs": 100,  # alternating discriminator / G steps with L_full
    "batch_size": 4,  # source images per step; as many target images
    "lr": 1e-3,  # Adam, betas (0.9, 0.999), for G and the discriminators
    "alpha_e": 0.01,
    "alpha_d": 0.05,
    "alpha_s": 0.1,
    "alpha_c": 0.05,  # SF-4 / SF-9 / AFC: not in the paper; αd's value
    "encoder": "resnet34",  # or resnet18 (same stage widths), for cheaper runs
    "weights": "",  # path of a local torchvision state dict of the encoder; "" = from scratch
}

RANGES: dict[str, ParamRange] = {
    "g_epochs": ParamRange(0),
    "d_epochs": ParamRange(0),
    "adv_epochs": ParamRange(0),
    "batch_size": ParamRange(2),  # BatchNorm in training mode needs two images
    "lr": ParamRange(0, low_open=True),
    "alpha_e": ParamRange(0),
    "alpha_d": ParamRange(0),
    "alpha_s": ParamRange(0),
    "alpha_c": ParamRange(0),
}


def check_variant(value: Any) -> str:
    """``value`` when it names a variant; :class:`~dabench.SpecError` listing the valid ones otherwise."""
    if value not in VARIANTS:
        raise dabench.SpecError(
            f"mlan parameter discriminators={value!r} is not valid: use one of {', '.join(VARIANTS)} (none = Origin, "
            "sed = the full method; e.g. --set discriminators=ed)."
        )
    return str(value)


def build(params: Mapping[str, Any]) -> dabench.Method:
    check_variant(params.get("discriminators", DEFAULTS["discriminators"]))
    from dabench_mlan.method import MLAN

    return MLAN(params)


@dabench.hookimpl
def register_methods() -> Iterable[dabench.MethodSpec]:
    return [
        dabench.MethodSpec(
            name="mlan",
            build=build,
            paper=PAPER,
            defaults=DEFAULTS,
            param_ranges=RANGES,
            task_types=("segmentation",),
            version="1",
            description="Multi-level adversarial segmentation: a U-Net with a ResNet-34 encoder (one foreground logit, "
            "BCE), mirrored encoder/decoder discriminators De/Dd on its multi-level maps and a ResNet-18 shape "
            "discriminator Ds; G minimises L_seg − αe·L_De − αd·L_Dd − αs·L_Ds after G-only and discriminator-only "
            "stages (Adam 1e-3, batch 4). discriminators = none (Origin) | s | e | d | ed | sed (ours) | sf4 | sf9 "
            "(one conventional discriminator on f4 / f9) | afc (all maps cropped and concatenated); supervised DA "
            "when the protocol gives target masks.",
        )
    ]
