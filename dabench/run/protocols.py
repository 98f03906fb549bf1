"""Protocols: how a run's data becomes the task a method sees and the labelled test domains the runner keeps.

``uda`` — plain unsupervised domain adaptation: the method sees the labelled source train split and the
*unlabelled* target train split (shifted); test domains are ``source`` (clean source test split) and ``target``
(shifted target test split). With no target dataset, the target is the source dataset itself.

``dann4`` — the DANN inter-semantic study's 4-dataset protocol (shared/papers/dann-intersemantic-histopathology):
training set A (labelled source train split, no shift), test set B (the target — or source — test split under the
*test shift*, evaluated at every test intensity without retraining), and two unlabelled DA datasets C and D taken
from the DA dataset (possibly of other semantics, e.g. Fashion-MNIST or black images): its train split is divided
into two disjoint seeded halves, C kept as is and D under the *DA shift*. The method aligns C and D only
(``source_in_domains=False``); statistics-based methods adapt to D.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dabench.data import AdaptationTask, LabeledSplit, UnlabeledSplit
from dabench.registry import Registry
from dabench.run import alignment
from dabench.run.datasource import DataSource, aligned_splits, apply_shifts, shift_states, to_float
from dabench.seeding import Seeds
from dabench.specs import RunSpec, ShiftStep

TestDomains = dict[str, Callable[[], LabeledSplit]]


def build_uda(
    spec: RunSpec, registry: Registry, data: DataSource, seeds: Seeds, device: torch.device
) -> tuple[AdaptationTask, TestDomains]:
    """The ``uda`` protocol: (task for the method, labelled test domains kept by the runner)."""
    source, target, num_classes = aligned_splits(spec, registry, data)
    states = shift_states(spec.shift, registry, data)
    target_train = to_float(target.train)
    target_test = to_float(target.test)
    shifted_train = apply_shifts(target_train.images, spec.shift, registry, states, seeds.int("shift/train"), device)
    shifted_test = apply_shifts(target_test.images, spec.shift, registry, states, seeds.int("shift/test"), device)
    source_spec = registry.datasets.get(spec.dataset.name)
    task = AdaptationTask(
        source=to_float(source.train),
        unlabeled={"target": LabeledSplit(images=shifted_train, labels=target_train.labels).without_labels()},
        num_classes=num_classes,
        input_shape=tuple(source.train.images.shape[1:]),  # type: ignore[arg-type]
        task_type=source_spec.task_type,
    )
    source_test = to_float(source.test)
    target_split = LabeledSplit(images=shifted_test, labels=target_test.labels, groups=target_test.groups)
    return task, {"source": lambda: source_test, "target": lambda: target_split}


def domain_name(intensity: float) -> str:
    """``test@0.3``: the test domain at one intensity of the test shift."""
    return f"test@{intensity:g}"


def build_dann4(
    spec: RunSpec, registry: Registry, data: DataSource, seeds: Seeds, device: torch.device
) -> tuple[AdaptationTask, TestDomains]:
    """The ``dann4`` protocol (see the module docstring)."""
    source, target, num_classes = aligned_splits(spec, registry, data)
    shape: tuple[int, int, int] = tuple(source.train.images.shape[1:])  # type: ignore[assignment]
    assert spec.da_dataset is not None
    da_images = alignment.harmonize_images(data.load(spec.da_dataset).train.images, shape)
    order = torch.randperm(len(da_images), generator=seeds.torch("da-split"))
    half = len(order) // 2
    c_images = da_images[order[:half]].float().div_(255.0)
    d_images = da_images[order[half:]].float().div_(255.0)
    d_images = apply_shifts(
        d_images, spec.da_shift, registry, shift_states(spec.da_shift, registry, data), seeds.int("shift/da"), device
    )
    source_spec = registry.datasets.get(spec.dataset.name)
    task = AdaptationTask(
        source=to_float(source.train),
        unlabeled={"C": UnlabeledSplit(images=c_images), "D": UnlabeledSplit(images=d_images)},
        num_classes=num_classes,
        input_shape=shape,
        task_type=source_spec.task_type,
        adapt_domain="D",
        source_in_domains=False,
    )
    test = to_float(target.test)
    states = shift_states(spec.shift, registry, data)

    def at(intensity: float) -> Callable[[], LabeledSplit]:
        steps = tuple(
            ShiftStep(name=s.name, version=s.version, intensity=intensity, options=s.options) for s in spec.shift
        )

        def make() -> LabeledSplit:
            images = apply_shifts(test.images, steps, registry, states, seeds.int("shift/test"), device)
            return LabeledSplit(images=images, labels=test.labels, groups=test.groups)

        return make

    return task, {domain_name(i): at(i) for i in spec.test_intensities}


PROTOCOL_BUILDERS = {"uda": "build_uda", "dann4": "build_dann4"}
