"""The StarGAN pixel-level adaptation study as a plugin (``stargan_study``, paper 001): the digit domains of the
paper's digits experiment (dataset ``digits3``: MNIST, USPS, MNIST-M on one size and one leakage-free split — its
own plugin, ``dabench_digits3``, so that editing the analysis never changes the data's code hash and the run keys),
its protocols (``digit_pairs``: every ordered pair, all domains given to the translator; ``digit_global``: the global
model on the pooled domains, at a data fraction) and its analysis (``stargan_deployment``: internal / external /
adapted / ceiling AUC per pair, salvage, the four deployment strategies, domain spread against the data fraction).
The method is the ``stargan`` plugin; the sweeps are ``sweeps/stargan_digits*.toml``.

Cheap to import: specs and hooks only.

References
----------
Valliani A. A. et al. (2023), Deploying deep learning models on unseen medical imaging using adversarial domain
adaptation, PLOS ONE (shared/papers/stargan-adversarial-da-chest-xray.txt).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dabench

if TYPE_CHECKING:
    from pathlib import Path

    from dabench.run.protocols import ProtocolContext

PAPER = dabench.Citation(
    authors="Aly A. Valliani, Faris F. Gulamali, Young Joon Kwon, Michael L. Martini, Chiatse Wang, Douglas "
    "Kondziolka, Viola J. Chen, Weichung Wang, Anthony B. Costa, Eric K. Oermann",
    title="Deploying deep learning models on unseen medical imaging using adversarial domain adaptation",
    year=2023,
    venue="PLOS ONE (shared/papers/stargan-adversarial-da-chest-xray.txt)",
)


def _pairs(spec: dabench.RunSpec, ctx: ProtocolContext) -> Any:
    from dabench_stargan_study.protocols import build_digit_pairs

    return build_digit_pairs(spec, ctx)


def _global(spec: dabench.RunSpec, ctx: ProtocolContext) -> Any:
    from dabench_stargan_study.protocols import build_digit_global

    return build_digit_global(spec, ctx)


@dabench.hookimpl
def register_protocols() -> Iterable[dabench.ProtocolSpec]:
    return [
        dabench.ProtocolSpec(
            name="digit_pairs",
            build=_pairs,
            paper=PAPER,
            description="StarGAN study: digits3:<a> → digits3:<b>; the target and every other digits3 domain "
            "unlabelled (one translator for all pairs); tests source (internal) and target (external / adapted)",
        ),
        dabench.ProtocolSpec(
            name="digit_global",
            build=_global,
            paper=PAPER,
            description="StarGAN study: the global model on digits3:pooled[,fraction=F], tested on each domain "
            "(mnist, usps, mnist_m): the global deployment strategy and its domain spread",
        ),
    ]


def _applies(records: Sequence[Mapping[str, Any]]) -> bool:
    from dabench_stargan_study.deployment import applies

    return applies(records)


def _analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    from dabench_stargan_study.deployment import analyse

    return analyse(records, out_dir, ctx)


@dabench.hookimpl
def register_analyses() -> Iterable[dabench.AnalysisSpec]:
    return [
        dabench.AnalysisSpec(
            name="stargan_deployment",
            applies=_applies,
            run=_analyse,
            paper=PAPER,
            description="digit_pairs / digit_global records: internal, external, adapted and ceiling AUC per "
            "ordered pair, salvage (mean, median) beside the paper's, the four deployment strategies, semantic "
            "retention, domain spread against the data fraction (table and figure), and the budget curve of the "
            "pairs adapted at several gan_iters (adapted AUC and the GAN losses' late movement; table and figure)",
        )
    ]
