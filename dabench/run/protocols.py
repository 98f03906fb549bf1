"""Protocols: how a run's data becomes the task a method sees and the labelled test domains the runner keeps.

``uda`` — plain unsupervised domain adaptation: the method sees the labelled source train split and the
*unlabelled* target train split (shifted); test domains are ``source`` (clean source test split) and ``target``
(shifted target test split). With no target dataset, the target is the source dataset itself: its train split is
divided into disjoint labelled-source and unlabelled-target halves (:func:`build_uda`).

Other protocols come from plugins (``register_protocols``; ``dabench list protocols``), e.g. the DANN study's
``dann4`` in ``plugins/dann_study``. This module is public API for them: :class:`ProtocolContext` (what
``ProtocolSpec.build(spec, ctx)`` receives) loads, aligns and shifts data exactly as ``uda`` does, and
:func:`domain_name` names the domains of a test-shift grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dabench.data import AdaptationTask, DatasetSplits, LabeledSplit
from dabench.registry import Registry
from dabench.run import alignment
from dabench.run.datasource import (
    DataSource,
    aligned_splits,
    apply_label_shifts,
    apply_shifts,
    shift_states,
    to_float,
)
from dabench.runspec import ComponentRef, RunSpec, ShiftStep
from dabench.seeding import Seeds
from dabench.splitting import stratified_split

TestDomains = Mapping[str, Callable[[], LabeledSplit]]
"""Domain name -> a zero-argument function that builds that labelled test split (one at a time)."""


def build_uda(
    spec: RunSpec, registry: Registry, data: DataSource, seeds: Seeds, device: torch.device
) -> tuple[AdaptationTask, TestDomains]:
    """The ``uda`` protocol: (task for the method, labelled test domains kept by the runner).

    With no target dataset (the target is the source dataset under the shift), the source train split is divided
    once into two disjoint halves — seeded (``uda/target-split``) and stratified by class
    (:func:`dabench.splitting.stratified_split`; a plain seeded split for segmentation) — the labelled source and the
    images of the unlabelled target, so the method never sees a labelled image again as an unlabelled target image.
    With a target dataset, the method gets the whole source train split and the whole target train split.

    Segmentation: geometric shifts (``ShiftSpec.apply_labels``) move the target test masks with their images (same
    seed ``shift/test``, same per-sample draws); the target train masks never reach the method (unlabelled)."""
    source, target, num_classes = aligned_splits(spec, registry, data)
    source_spec = registry.datasets.get(spec.dataset.name)
    states = shift_states(spec.shift, registry, data)
    source_train, target_train = to_float(source.train), to_float(target.train)
    if spec.target is None:
        classes = source_spec.task_type == "classification"
        strata = source.train.labels.numpy() if classes else np.zeros(len(source.train), dtype=np.int64)
        labelled, unlabelled = stratified_split(strata, (0.5, 0.5), seeds.numpy("uda/target-split"))
        source_train = source_train.subset(torch.from_numpy(labelled))
        target_train = target_train.subset(torch.from_numpy(unlabelled))
    target_test = to_float(target.test)
    shifted_train = apply_shifts(target_train.images, spec.shift, registry, states, seeds.int("shift/train"), device)
    shifted_test = apply_shifts(target_test.images, spec.shift, registry, states, seeds.int("shift/test"), device)
    test_labels = target_test.labels
    if source_spec.task_type == "segmentation":
        test_labels = apply_label_shifts(test_labels, spec.shift, registry, states, seeds.int("shift/test"), device)
    task = AdaptationTask(
        source=source_train,
        unlabeled={"target": LabeledSplit(images=shifted_train, labels=target_train.labels).without_labels()},
        num_classes=num_classes,
        input_shape=tuple(source.train.images.shape[1:]),  # type: ignore[arg-type]
        task_type=source_spec.task_type,
    )
    source_test = to_float(source.test)
    target_split = LabeledSplit(images=shifted_test, labels=test_labels, groups=target_test.groups)
    return task, {"source": lambda: source_test, "target": lambda: target_split}


def domain_name(intensity: float) -> str:
    """``test@0.3``: the test domain at one intensity of the test shift."""
    return f"test@{intensity:g}"


@dataclass(frozen=True, kw_only=True)
class ProtocolContext:
    """What ``ProtocolSpec.build(spec, ctx)`` receives: the run's registry, data source (datasets loaded and cached
    per run from the data root), seeds and device, with the helpers a protocol builds its task from. Every random
    draw derives from ``seeds`` and a label, so a protocol stays a pure function of the spec."""

    registry: Registry
    data: DataSource
    seeds: Seeds
    device: torch.device

    def splits(self, spec: RunSpec) -> tuple[DatasetSplits, DatasetSplits, int]:
        """(source, target, num_classes): the spec's dataset and target (the dataset itself when none) as uint8
        splits with one image shape (the source's) and one label space (shared classes), checked as for ``uda``."""
        return aligned_splits(spec, self.registry, self.data)

    def load(self, ref: ComponentRef | str) -> DatasetSplits:
        """A dataset's uint8 splits by reference or ``name[:domain]`` (cached for the run)."""
        return self.data.load(ref)

    def load_uncached(self, ref: ComponentRef | str, stream: str) -> DatasetSplits:
        """A dataset's uint8 splits loaded outside the run's cache (a grid of many generated domains would otherwise
        stay in memory until the run ends), with its randomness from ``seeds.child(stream)``: the same ``ref`` and
        ``stream`` give the same data whatever else the run loads."""
        return DataSource(self.registry, self.data.data_root, self.seeds.child(stream)).load(ref)

    @staticmethod
    def harmonized(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """uint8 ``images`` resized and converted (grey/RGB) to ``shape`` (C, H, W), as cross-dataset runs align."""
        return alignment.harmonize_images(images, shape)

    @staticmethod
    def to_float(split: LabeledSplit) -> LabeledSplit:
        """A uint8 split as float images in [0, 1]."""
        return to_float(split)

    def shifted(self, images: torch.Tensor, steps: Sequence[ShiftStep], stream: str) -> torch.Tensor:
        """Float ``images`` under the shift chain ``steps`` (each shift's ``prepare`` run once), with per-sample
        randomness from the seed ``seeds.int(stream)``; no steps: the images themselves."""
        chain = tuple(steps)
        states = shift_states(chain, self.registry, self.data)
        return apply_shifts(images, chain, self.registry, states, self.seeds.int(stream), self.device)

    def shifted_labels(self, labels: torch.Tensor, steps: Sequence[ShiftStep], stream: str) -> torch.Tensor:
        """Segmentation masks (int64 ``[N, H, W]``) moved by the geometric steps of ``steps`` exactly as
        :meth:`shifted` with the same ``stream`` moves their images (nearest-neighbour); photometric steps leave them
        unchanged. Classification labels are not masks: do not pass them."""
        chain = tuple(steps)
        states = shift_states(chain, self.registry, self.data)
        return apply_label_shifts(labels, chain, self.registry, states, self.seeds.int(stream), self.device)

    def shift_grid(
        self, split: LabeledSplit, steps: Sequence[ShiftStep], intensities: Iterable[float], stream: str
    ) -> TestDomains:
        """Test domains ``test@<i>`` (:func:`domain_name`): the float ``split`` under ``steps`` with every step at
        intensity ``i``, built on demand (one at a time). The shifts are prepared once; the randomness comes from
        ``seeds.int(stream)`` at every intensity, so sample ``k`` gets the same draw at each one. Segmentation masks
        (labels ``[N, H, W]``) move with their images under geometric steps."""
        chain = tuple(steps)
        states = shift_states(chain, self.registry, self.data)
        seed = self.seeds.int(stream)

        def at(intensity: float) -> Callable[[], LabeledSplit]:
            scaled = tuple(
                ShiftStep(name=s.name, version=s.version, intensity=intensity, options=s.options) for s in chain
            )

            def make() -> LabeledSplit:
                images = apply_shifts(split.images, scaled, self.registry, states, seed, self.device)
                labels = split.labels
                if labels.ndim == 3:
                    labels = apply_label_shifts(labels, scaled, self.registry, states, seed, self.device)
                return LabeledSplit(images=images, labels=labels, groups=split.groups)

            return make

        return {domain_name(i): at(i) for i in intensities}


"""Compatibility for callers that check a protocol name without a registry (``dabench.run.reproduce``); the
registry (``registry.protocols``, hook ``register_protocols``) is what runs use."""
