"""The BN-adaptation study as a plugin (``bn_study``): when does BatchNorm adaptation work? Its protocols
``perlin_grid`` (a U-Net trained on one Perlin (μ1, μ2) source setting, evaluated unadapted and BN-adapted on every
target cell μ1 ≠ μ2 of a grid) and ``shift_grid`` (a real dataset, ISBI 2012 EM, under one photometric shift at
every intensity of a grid), and its analysis ``bn_adaptation`` (Dice unadapted / adapted / gain per cell, latent
predictors of the gain). The AdaBN method is the ``adabn`` plugin; the study's sweeps are ``sweeps/bn_*.toml``.

Cheap to import: specs and hooks only (torch, numpy-heavy code and matplotlib load when a run or an analysis needs
them).

References
----------
Stenger, A., Baudrier, É., Faisan, S. Exploring deep learning domain adaptation performance: from covariate shift
to Wasserstein and beyond. Presentation, 21 July 2023 (shared/papers/batchnorm-adaptation-fibsem-segmentation.txt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dabench
from dabench_bn_study.protocols import build_perlin_grid, build_shift_grid, resolve_perlin_grid, resolve_shift_grid

if TYPE_CHECKING:
    from dabench.run.protocols import ProtocolContext

PAPER = dabench.Citation(
    authors="Stenger, A.; Baudrier, É.; Faisan, S. (supervisors)",
    title="Exploring deep learning domain adaptation performance: from covariate shift to Wasserstein and beyond",
    year=2023,
    venue="shared/papers/batchnorm-adaptation-fibsem-segmentation.txt",
)

PROTOCOLS = ("perlin_grid", "shift_grid")


def build_perlin(
    spec: dabench.RunSpec, ctx: ProtocolContext
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    return build_perlin_grid(spec, ctx)


def build_shift(
    spec: dabench.RunSpec, ctx: ProtocolContext
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    return build_shift_grid(spec, ctx)


def applies(records: Sequence[Mapping[str, Any]]) -> bool:
    from dabench_bn_study.analysis import applies as study_applies  # numpy, matplotlib load with the analysis

    return bool(study_applies(records))


def analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    from dabench_bn_study.analysis import run

    return run(records, out_dir, ctx)


@dabench.hookimpl
def register_protocols() -> Iterable[dabench.ProtocolSpec]:
    return [
        dabench.ProtocolSpec(
            name="perlin_grid",
            build=build_perlin,
            resolve=resolve_perlin_grid,
            takes=("test_intensities",),
            paper=PAPER,
            diagnostics=True,
            description="BN-adaptation study: train on the Perlin source setting (--dataset perlin:mu1=…,mu2=…), "
            "test on every target cell (mu1, mu2) of --test-intensities² with mu1 != mu2 (default the paper's "
            "0.1…0.9: 20 cells), each with its unlabelled train split for adaptation",
        ),
        dabench.ProtocolSpec(
            name="shift_grid",
            build=build_shift,
            resolve=resolve_shift_grid,
            takes=("test_intensities",),
            paper=PAPER,
            diagnostics=True,
            description="train on a seeded half of the train split; test@<i>: the test split and the other half "
            "(unlabelled) under one shift (--shift brightness) at every --test-intensities value",
        ),
    ]


@dabench.hookimpl
def register_analyses() -> Iterable[dabench.AnalysisSpec]:
    return [
        dabench.AnalysisSpec(
            name="bn_adaptation",
            applies=applies,
            run=analyse,
            paper=PAPER,
            description="perlin_grid / shift_grid records: Dice unadapted, adapted and gain per target, heatmaps "
            "over (mu1, mu2), Spearman rho of latent distances vs gain on held-out source settings",
        )
    ]
