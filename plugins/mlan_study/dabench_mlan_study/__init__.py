"""The multi-level adversarial segmentation study as a plugin (``mlan_study``, paper 003): protocols that turn two
segmentation domains into the paper's setting, and the study's analysis.

Protocols ``foreground_uda`` and ``foreground_sda``: every labelled image of the source (``--dataset``) and of the
target (``--target``) pooled, masks binarised (foreground = every class but 0: for Zheng-2018 white blood cells,
cytoplasm ∪ nucleus, a round object as the paper's glomeruli), and each domain split once 80/20 into train / test
("we randomly select 80% of images from each dataset used for training and the rest for testing"). Within a run
seed every run splits the target the same way, so every adaptation run is tested on the same target images; a
target-trained run (``--dataset`` = ``--target``) uses the target's split for both roles: trained on its 80 %, tested
on the same 20 % the adaptation runs are tested on. UDA: the method sees the target train images
unlabelled; SDA (the paper's supervised DA, Table 1): also with their masks (``task.target_labeled``). Test domains:
``source`` and ``target`` (the 20 % halves). Both domains are resized to one size by the dataset's ``size`` option.

Cheap to import: specs and hooks only.

References
----------
Multi-level adversarial network for cross-stained glomeruli segmentation (shared/papers/
multilevel-adversarial-glomeruli-segmentation.txt, arXiv 2002.08587), sections 2.2 and 3.1.
Zheng X. et al. (2018), Fast and robust segmentation of white blood cell images by self-supervised learning. Micron.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dabench

if TYPE_CHECKING:
    from pathlib import Path

    from dabench.run.protocols import ProtocolContext

PAPER = dabench.Citation(
    authors="Chuang Zhu (corresponding author) et al.",
    title="Multi-level adversarial network for domain adaptive glomeruli segmentation (renal biopsy, PASM → Masson)",
    year=2020,
    venue="arXiv 2002.08587 (shared/papers/multilevel-adversarial-glomeruli-segmentation.txt)",
)

TRAIN_FRACTION = 0.8


def _pooled_foreground(splits: dabench.DatasetSplits) -> dabench.LabeledSplit:
    """Every labelled image of a segmentation dataset, masks binarised (class > 0 → 1)."""
    import torch

    parts = [s for s in (splits.train, splits.val, splits.test) if s is not None]
    return dabench.LabeledSplit(
        images=torch.cat([p.images for p in parts]), labels=(torch.cat([p.labels for p in parts]) > 0).long()
    )


def _split(pool: dabench.LabeledSplit, ctx: ProtocolContext, label: str) -> tuple[Any, Any]:
    """(train, test) of one domain: a seeded 80/20 permutation from the stream ``foreground/split/<label>``."""
    import torch

    order = torch.from_numpy(ctx.seeds.numpy(f"foreground/split/{label}").permutation(len(pool)))
    cut = round(TRAIN_FRACTION * len(pool))
    if cut < 1 or cut >= len(pool):
        raise dabench.DataError(f"domain {label}: {len(pool)} images cannot be split 80/20; it needs at least 2.")
    return ctx.to_float(pool.subset(order[:cut])), ctx.to_float(pool.subset(order[cut:]))


def build_foreground(
    spec: dabench.RunSpec, ctx: ProtocolContext, *, supervised: bool
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    """The task and test domains of ``foreground_uda`` / ``foreground_sda`` (see the module docstring)."""
    name = "foreground_sda" if supervised else "foreground_uda"
    if ctx.registry.datasets.get(spec.dataset.name).task_type != "segmentation":
        raise dabench.SpecError(
            f"protocol {name} is for segmentation datasets; {spec.dataset.name!r} is not one "
            "(e.g. --dataset wbc_zheng_seg:lab1,size=64 --target wbc_zheng_seg:lab2,size=64)."
        )
    if spec.target is None:
        raise dabench.SpecError(
            f"protocol {name} needs a target domain: --target DATASET (e.g. --target wbc_zheng_seg:lab2,size=64)."
        )
    source, target, _ = ctx.splits(spec)
    if spec.target.label() == spec.dataset.label():
        # one domain in both roles (the target-trained model): one load, one split. Two loads may order the pool
        # differently (a loader's own split is seeded per role), and the model would then be tested on images
        # it was trained on.
        source = target
    source_train, source_test = _split(_pooled_foreground(source), ctx, spec.dataset.label())
    target_train, target_test = _split(_pooled_foreground(target), ctx, spec.target.label())
    shifted_train = ctx.shifted(target_train.images, spec.shift, "shift/train")
    target_train = dabench.LabeledSplit(images=shifted_train, labels=target_train.labels)
    target_test = dabench.LabeledSplit(
        images=ctx.shifted(target_test.images, spec.shift, "shift/test"),
        labels=ctx.shifted_labels(target_test.labels, spec.shift, "shift/test"),
    )
    task = dabench.AdaptationTask(
        source=source_train,
        unlabeled={"target": target_train.without_labels()},
        num_classes=2,
        input_shape=tuple(source_train.images.shape[1:]),  # type: ignore[arg-type]
        task_type="segmentation",
        target_labeled=target_train if supervised else None,
        info={"protocol": name, "target": spec.target.label(), "foreground": "every class > 0"},
    )
    return task, {"source": lambda: source_test, "target": lambda: target_test}


def _build_uda(spec: dabench.RunSpec, ctx: ProtocolContext) -> Any:
    return build_foreground(spec, ctx, supervised=False)


def _build_sda(spec: dabench.RunSpec, ctx: ProtocolContext) -> Any:
    return build_foreground(spec, ctx, supervised=True)


@dabench.hookimpl
def register_protocols() -> Iterable[dabench.ProtocolSpec]:
    return [
        dabench.ProtocolSpec(
            name="foreground_uda",
            build=_build_uda,
            paper=PAPER,
            description="multi-level adversarial segmentation study: source and target segmentation domains pooled, "
            "masks binarised (foreground = class > 0), each split once 80/20; the target train images unlabelled",
        ),
        dabench.ProtocolSpec(
            name="foreground_sda",
            build=_build_sda,
            paper=PAPER,
            description="as foreground_uda, but the target train images come with their masks (supervised DA, the "
            "paper's Table 1)",
        ),
    ]


def _gap_applies(records: Sequence[Mapping[str, Any]]) -> bool:
    from dabench_mlan_study.gap import applies

    return applies(records)


def _gap_analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    from dabench_mlan_study.gap import analyse

    return analyse(records, out_dir, ctx)


def _curve_applies(records: Sequence[Mapping[str, Any]]) -> bool:
    from dabench_mlan_study.curve import applies

    return applies(records)


def _curve_analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    from dabench_mlan_study.curve import analyse

    return analyse(records, out_dir, ctx)


@dabench.hookimpl
def register_analyses() -> Iterable[dabench.AnalysisSpec]:
    return [
        dabench.AnalysisSpec(
            name="mlan_gap",
            applies=_gap_applies,
            run=_gap_analyse,
            paper=PAPER,
            description="foreground_uda / foreground_sda records: every variant against Origin on the target test "
            "images (paired bootstrap per seed, t over seeds), source Dice drop, fraction of the Origin → upper-bound "
            "gap closed beside the paper's",
        ),
        dabench.AnalysisSpec(
            name="mlan_curve",
            applies=_curve_applies,
            run=_curve_analyse,
            paper=PAPER,
            description="mlan records with epoch checkpoints: target Dice over the adversarial stage per variant "
            "(last, last-quarter mean and swing, trend, tail mean against Origin per seed and over seeds; figure)",
        ),
    ]
