"""Split containers handed between loaders, the runner and methods.

:class:`UnlabeledSplit` has no label field at all: a method receives target data only in that form, so label leakage
is a type error, not a convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dabench.errors import DataError
from dabench.specs import TaskType

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, kw_only=True)
class LabeledSplit:
    """Images with labels. ``images``: ``[N, C, H, W]`` (uint8 from loaders, float in [0, 1] in tasks);
    ``labels``: int64 ``[N]`` or masks ``[N, H, W]``; ``groups``: optional int64 ``[N]`` cluster ids (patient,
    slide, site) for the grouped bootstrap."""

    images: torch.Tensor
    labels: torch.Tensor
    groups: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise DataError(f"images must be [N, C, H, W]; got shape {tuple(self.images.shape)}.")
        n = self.images.shape[0]
        if self.labels.shape[0] != n or (self.groups is not None and self.groups.shape[0] != n):
            raise DataError(f"{n} images but {self.labels.shape[0]} labels: every image needs exactly one label.")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def without_labels(self) -> UnlabeledSplit:
        return UnlabeledSplit(images=self.images)

    def subset(self, index: torch.Tensor) -> LabeledSplit:
        groups = self.groups[index] if self.groups is not None else None
        return LabeledSplit(images=self.images[index], labels=self.labels[index], groups=groups)


@dataclass(frozen=True, kw_only=True)
class UnlabeledSplit:
    """Images only, ``[N, C, H, W]``. There is intentionally no way to reach labels from here."""

    images: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise DataError(f"images must be [N, C, H, W]; got shape {tuple(self.images.shape)}.")

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True, kw_only=True)
class DatasetSplits:
    """What a dataset loader returns: labelled train and test splits (and optionally a validation split).

    ``class_names`` is set by loaders whose classes are only known at load time (an ImageFolder); it overrides the
    spec's ``class_names``/``num_classes``.
    """

    train: LabeledSplit
    test: LabeledSplit
    val: LabeledSplit | None = None
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AdaptationTask:
    """What a method may see.

    ``source`` is labelled; ``unlabeled`` maps domain names to image-only splits the method may adapt on (plain UDA:
    ``{"source", "target"}``; the DANN paper's protocol: the two DA datasets). ``target_labeled`` is set only by
    supervised-DA protocols. ``source_in_domains`` says whether the labelled source counts as a domain for
    domain-alignment losses (plain UDA: yes; the DANN study's 4-dataset protocol aligns only the DA datasets C and
    D). ``adapt_domain`` names the unlabelled domain that statistics-based methods (AdaBN) adapt to. Images are
    float32 in [0, 1].
    """

    source: LabeledSplit
    unlabeled: Mapping[str, UnlabeledSplit]
    num_classes: int
    input_shape: tuple[int, int, int]
    task_type: TaskType = "classification"
    target_labeled: LabeledSplit | None = None
    adapt_domain: str = "target"
    source_in_domains: bool = True
    info: Mapping[str, str] = field(default_factory=dict)
