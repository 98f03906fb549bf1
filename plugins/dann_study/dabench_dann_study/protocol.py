"""``dann4`` — the DANN inter-semantic study's 4-dataset protocol.

Training set A (the labelled source train split, no shift), test set B (the target — or source — test split under
the *test shift*, evaluated at every test intensity without retraining: domains ``test@<i>``), and two unlabelled DA
datasets C and D taken from the DA dataset (possibly of other semantics, e.g. Fashion-MNIST or black images): its
train split is divided into two disjoint seeded halves (so the domain classifier cannot pair images), C kept as is
and D under the *DA shift*. The method aligns C and D only (``source_in_domains=False``); statistics-based methods
adapt to D.

:func:`resolve_dann4` is the protocol's request step: one test shift by name (``--shift noise``), its intensities
from ``--test-intensities`` (default: the paper's grid), the DA dataset (default: the training dataset) and the DA
shift chain. torch is imported only by :func:`build_dann4`, when a run builds its task.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), section III-D
(p. 1–2: "the train and test datasets as for main classification task; the two datasets used to train the DA") and
Fig. 3; the noise grid ``i`` over [0, 1.2] (section III-C, IV-A) and blur kernels k = 1…9 (IV-C).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import dabench

if TYPE_CHECKING:
    from dabench.run.protocols import ProtocolContext

DEFAULT_TEST_INTENSITIES = {"noise": tuple(round(0.1 * i, 1) for i in range(13)), "blur": (1.0, 3.0, 5.0, 7.0, 9.0)}
"""The paper's test grids: noise 0–1.2 in steps of 0.1, blur kernels 1–9 (odd)."""


def resolve_dann4(request: dabench.ProtocolRequest, ctx: dabench.ResolveContext) -> dabench.ProtocolInputs:
    """Validate the study's request fields: one named test shift (its options kept, its intensity the grid's),
    the test grid (each value in the shift's range), the DA dataset (default: the training dataset) and DA shift."""
    name = (request.shift or "").split(",")[0].split(":")[0]
    template, intensities = ctx.shift_grid(request, "dann4", default=DEFAULT_TEST_INTENSITIES.get(name))
    return dabench.ProtocolInputs(
        shift=template,
        da_dataset=ctx.dataset_ref(request.da_dataset or request.dataset),
        da_shift=ctx.shift_chain(request.da_shift or ""),
        test_intensities=intensities,
    )


def build_dann4(
    spec: dabench.RunSpec, ctx: ProtocolContext
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    """The task (A labelled; C, D unlabelled) and the test grid (B at every test intensity); see the module
    docstring."""
    import torch

    source, target, num_classes = ctx.splits(spec)
    shape: tuple[int, int, int] = tuple(source.train.images.shape[1:])  # type: ignore[assignment]
    if spec.da_dataset is None:
        raise dabench.SpecError("protocol dann4 needs a DA dataset; resolve the run with dabench's resolve first.")
    da_images = ctx.harmonized(ctx.load(spec.da_dataset).train.images, shape)
    order = torch.randperm(len(da_images), generator=ctx.seeds.torch("da-split"))
    half = len(order) // 2
    c_images = da_images[order[:half]].float().div_(255.0)
    d_images = ctx.shifted(da_images[order[half:]].float().div_(255.0), spec.da_shift, "shift/da")
    task = dabench.AdaptationTask(
        source=ctx.to_float(source.train),
        unlabeled={"C": dabench.UnlabeledSplit(images=c_images), "D": dabench.UnlabeledSplit(images=d_images)},
        num_classes=num_classes,
        input_shape=shape,
        task_type=ctx.registry.datasets.get(spec.dataset.name).task_type,
        adapt_domain="D",
        source_in_domains=False,
    )
    return task, ctx.shift_grid(ctx.to_float(target.test), spec.shift, spec.test_intensities, "shift/test")
