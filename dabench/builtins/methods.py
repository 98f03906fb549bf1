"""The built-in methods: ``source_only`` (empirical risk minimisation on the labelled source, no adaptation; a LeNet
for classification, a U-Net for segmentation) and the ``majority_class`` baseline (the most frequent source class,
whatever the input; nothing is trained).

Importing this module is cheap (no torch): the methods import torch when they are built or fitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dabench.builtins.citations import ERM
from dabench.nn.hyperparams import SEGMENTATION_DEFAULTS, SEGMENTATION_RANGES, TRAINING_DEFAULTS
from dabench.specs import Citation, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from dabench.data import AdaptationTask
    from dabench.seeding import Seeds

MAJORITY_BASELINE = Citation(
    authors="Ian H. Witten, Eibe Frank, Mark A. Hall, Christopher J. Pal",
    title="Data Mining: Practical Machine Learning Tools and Techniques (4th ed.)",
    year=2016,
    venue="Morgan Kaufmann",
)
"""The textbook's ZeroR / majority-class predictor, the baseline a classifier's evaluation is read against."""


def build_source_only(params: Mapping[str, Any]) -> Method:
    from dabench.nn.training import SupervisedTraining

    return SupervisedTraining(params)


class ClassPrior:
    """A constant predictor: every sample (every pixel, for segmentation) gets the logits ``log(frequencies)``, so
    its softmax is the source class frequencies and its argmax the most frequent class (the lowest index on a tie).
    A class absent from the source gets the smallest positive float32 as its frequency (finite logits)."""

    def __init__(self, frequencies: torch.Tensor, task_type: str) -> None:
        import torch

        floor = torch.finfo(torch.float32).tiny
        self.logits = frequencies.to(torch.float64).clamp_min(floor).log().to(torch.float32)
        self.task_type = task_type

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, C]`` (segmentation: ``[N, C, H, W]`` for ``x`` of ``[N, channels, H, W]``), on the CPU."""
        n = int(x.shape[0])
        if self.task_type == "segmentation":
            height, width = int(x.shape[2]), int(x.shape[3])
            return self.logits.view(1, -1, 1, 1).expand(n, -1, height, width).clone()
        return self.logits.view(1, -1).expand(n, -1).clone()

    @property
    def majority(self) -> int:
        """The class every sample is assigned."""
        return int(self.logits.argmax())


class MajorityClass:
    """Counts the labels of the labelled source train split; trains nothing, uses no unlabelled data and no seed."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ClassPrior:
        import torch

        labels = task.source.labels.detach().reshape(-1).to("cpu", torch.int64)
        counts = torch.bincount(labels, minlength=task.num_classes)[: task.num_classes].to(torch.float64)
        return ClassPrior(counts / counts.sum().clamp_min(1.0), task.task_type)


def build_majority_class(params: Mapping[str, Any]) -> Method:
    return MajorityClass(params)


METHODS = (
    MethodSpec(
        name="source_only",
        build=build_source_only,
        paper=ERM,
        defaults=dict(TRAINING_DEFAULTS),
        param_ranges=SEGMENTATION_RANGES,
        task_types=("classification", "segmentation"),
        task_defaults={"segmentation": SEGMENTATION_DEFAULTS},
        description="Train on the labelled source only (ERM); the baseline every adaptation must beat. "
        "Classification: the LeNet; segmentation: a U-Net with BatchNorm (width, depth) and pixel-wise "
        "cross-entropy.",
    ),
    MethodSpec(
        name="majority_class",
        build=build_majority_class,
        paper=MAJORITY_BASELINE,
        task_types=("classification", "segmentation"),
        description="Predict the most frequent class of the labelled source train split for every input, with the "
        "source class frequencies as probabilities (AUC 0.5); trains nothing. A method below it has learnt nothing "
        "that transfers.",
    ),
)
