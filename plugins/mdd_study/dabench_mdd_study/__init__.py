"""The MDD blood-cell study as a plugin (``mdd_study``, paper 002): its protocol ``target_halves`` — the target lab's
labelled images split once, stratified, into an unlabelled adaptation / selection half (the paper's WBC1) and a
held-out labelled test half (WBC2). The method is the ``mdd`` plugin; the sweeps are ``sweeps/mdd_blood*.toml``.

Test domains: ``source`` (the source test split), ``target`` (the held-out half, WBC2: the headline) and
``target_adapt`` (the adaptation half with its labels, WBC1: the paper reports both, and its one quantitative
claim is that the two agree within 0.05 macro-F1). Methods and validators see the adaptation half without labels
(``task.unlabeled["target"]``); model selection over checkpoints scores validators there.

Cheap to import: specs and hooks only.

References
----------
Starovoitovs K. Domain adaptation with an adversarial algorithm for blood cell classification
(shared/papers/mdd-blood-cell-classification.txt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dabench

if TYPE_CHECKING:
    from pathlib import Path

    from dabench.run.protocols import ProtocolContext

PAPER = dabench.Citation(
    authors="Konstantins Starovoitovs",
    title="Domain adaptation with an adversarial algorithm for blood cell classification",
    year=2023,
    venue="shared/papers/mdd-blood-cell-classification.txt",
)

SPLIT_STREAM = "target_halves/split"


def _pooled(splits: dabench.DatasetSplits) -> dabench.LabeledSplit:
    """Every labelled image of a dataset (train, validation and test splits together)."""
    import torch

    parts = [s for s in (splits.train, splits.val, splits.test) if s is not None]
    groups = [p.groups for p in parts]
    return dabench.LabeledSplit(
        images=torch.cat([p.images for p in parts]),
        labels=torch.cat([p.labels for p in parts]),
        groups=torch.cat([g for g in groups if g is not None]) if all(g is not None for g in groups) else None,
    )


def build_target_halves(
    spec: dabench.RunSpec, ctx: ProtocolContext
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    """The labelled source train split, the target's adaptation half (unlabelled) and the test domains ``source``,
    ``target`` (held-out half) and ``target_adapt`` (adaptation half, labelled; see the module docstring)."""
    import torch

    if spec.target is None:
        raise dabench.SpecError(
            "protocol target_halves needs a target lab: --target DATASET (e.g. --dataset pbc --target wbc_zheng:lab2)."
        )
    source, target, num_classes = ctx.splits(spec)
    pool = _pooled(target)
    adapt_idx, test_idx = dabench.stratified_split(pool.labels.numpy(), (0.5, 0.5), ctx.seeds.numpy(SPLIT_STREAM))
    adapt = ctx.to_float(pool.subset(torch.from_numpy(adapt_idx)))
    test = ctx.to_float(pool.subset(torch.from_numpy(test_idx)))
    adapt = dabench.LabeledSplit(
        images=ctx.shifted(adapt.images, spec.shift, "shift/train"), labels=adapt.labels, groups=adapt.groups
    )
    test = dabench.LabeledSplit(
        images=ctx.shifted(test.images, spec.shift, "shift/test"), labels=test.labels, groups=test.groups
    )
    source_test = ctx.to_float(source.test)
    task = dabench.AdaptationTask(
        source=ctx.to_float(source.train),
        unlabeled={"target": adapt.without_labels()},
        num_classes=num_classes,
        input_shape=tuple(source.train.images.shape[1:]),  # type: ignore[arg-type]
        info={"protocol": "target_halves", "target": spec.target.label()},
    )
    return task, {"source": lambda: source_test, "target": lambda: test, "target_adapt": lambda: adapt}


def _halves_applies(records: Sequence[Mapping[str, Any]]) -> bool:
    from dabench_mdd_study.halves import applies

    return applies(records)


def _halves_analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    from dabench_mdd_study.halves import analyse

    return analyse(records, out_dir, ctx)


@dabench.hookimpl
def register_analyses() -> Iterable[dabench.AnalysisSpec]:
    return [
        dabench.AnalysisSpec(
            name="mdd_halves",
            applies=_halves_applies,
            run=_halves_analyse,
            paper=PAPER,
            description="target_halves records: adaptation half (WBC1) vs held-out half (WBC2) per method and "
            "target, the gap per seed with its bootstrap interval, over seeds with a t-interval, and whether "
            "|gap| <= 0.05 (the paper's one quantitative statement)",
        )
    ]


@dabench.hookimpl
def register_protocols() -> Iterable[dabench.ProtocolSpec]:
    return [
        dabench.ProtocolSpec(
            name="target_halves",
            build=build_target_halves,
            paper=PAPER,
            description="MDD blood-cell study: the target lab split once, stratified, into an unlabelled "
            "adaptation / selection half (WBC1; also scored with its labels as target_adapt) and a held-out "
            "labelled test half (target, WBC2)",
        )
    ]
