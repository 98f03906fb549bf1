"""Benefit predictors: label-free estimates, made *before* adapting, of a model's score on a target domain and of
how much an adaptation method would gain there ("will adapting help here, and by how much?").

A benefit predictor is a plugin component (hook ``register_benefit_predictors``). The name is deliberate: a
:class:`~dabench.specs.Predictor` is a trained model; a :class:`BenefitPredictorSpec` estimates what adapting one
would bring. A predictor sees only :class:`BenefitInputs`: the source-trained model's outputs on labelled source
validation data and on *unlabelled* target data (:class:`TargetOutputs` has no label field, as
:class:`~dabench.data.UnlabeledSplit` has none), and optionally a second source model's outputs (``peer``, another
seed, for agreement-based estimators). It returns a :class:`BenefitOutput`: an estimate of the target score (in the
units named by ``BenefitPredictorSpec.estimates``) and/or a shift score. How either maps to a predicted benefit of
a named method is fitted on held-out studies (``dabench predictors evaluate``), never on the run being predicted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dabench.errors import SpecError
from dabench.specs import Citation, TaskType, _check_name, _check_task_type

BenefitMap = Literal["linear", "gaussian"]
BENEFIT_MAPS: tuple[BenefitMap, ...] = ("linear", "gaussian")


@dataclass(frozen=True, kw_only=True)
class TargetOutputs:
    """The source model on unlabelled target images. ``probs``/``logits``: float64 ``[N, C]`` (segmentation
    ``[N, C, H, W]``); ``features``: float64 ``[N, D]`` latent features taken before the non-linearity (a U-Net's
    bottleneck averaged over space, a classifier's feature extractor), None when the model exposes none;
    ``images``: float32 ``[N, C, H, W]`` in [0, 1]. There is intentionally no label field."""

    probs: np.ndarray
    logits: np.ndarray
    features: np.ndarray | None
    images: np.ndarray

    def __len__(self) -> int:
        return int(self.probs.shape[0])


@dataclass(frozen=True, kw_only=True)
class SourceOutputs(TargetOutputs):
    """The source model on labelled source validation images (held out from training): :class:`TargetOutputs`
    plus ``labels`` (int64 ``[N]``; segmentation masks ``[N, H, W]``)."""

    labels: np.ndarray


@dataclass(frozen=True, kw_only=True)
class PeerOutputs:
    """A second source model (the same method trained with another seed): its softmax outputs on the same source
    validation and target images, for agreement-based estimators."""

    source_probs: np.ndarray
    target_probs: np.ndarray


@dataclass(frozen=True, kw_only=True)
class BenefitInputs:
    """Everything a benefit predictor may use. ``seed`` seeds any random choice it makes (projections,
    subsamples); ``source_score`` is the run's primary metric (``metric``) on the source validation data."""

    task_type: TaskType
    num_classes: int
    source: SourceOutputs
    target: TargetOutputs
    metric: str
    source_score: float
    seed: int
    peer: PeerOutputs | None = None


@dataclass(frozen=True, kw_only=True)
class BenefitOutput:
    """What a predictor says about one target domain.

    ``target_score``: the estimated target value of the quantity named by the spec's ``estimates`` (e.g.
    ``accuracy``), None when the predictor estimates none. ``shift_score``: a label-free signal, larger = farther
    from the source (a distance, a predicted degradation), None when it gives none. At least one is set."""

    target_score: float | None = None
    shift_score: float | None = None

    def __post_init__(self) -> None:
        if self.target_score is None and self.shift_score is None:
            raise SpecError("a BenefitOutput needs a target_score, a shift_score or both.")

    def as_dict(self) -> dict[str, float]:
        """The finite values, for a record."""
        values = {"target_score": self.target_score, "shift_score": self.shift_score}
        return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


BenefitFn = Callable[[BenefitInputs], BenefitOutput]


@dataclass(frozen=True, kw_only=True)
class BenefitPredictorSpec:
    """A benefit predictor: ``fn(inputs) -> BenefitOutput``.

    ``estimates`` names the metric its ``target_score`` estimates without any fitting (``accuracy``; segmentation:
    ``pixel_accuracy``), or ``""`` when its scores are uncalibrated (they are mapped to a target score by a fit on
    held-out studies). ``benefit_map`` is the form fitted from its signal (the predicted degradation
    ``source value - target_score`` when it estimates a score, else ``shift_score``) to a method's realised
    benefit: ``linear``, or ``gaussian`` (paper 000's gain as a Gaussian bump of the degradation).
    ``needs_features``: it needs latent features (skipped for models without them); ``needs_peer``: it needs
    :class:`PeerOutputs`, i.e. a second source model trained in the run — the one costly kind, so it is computed
    only when a run asks for it by name (or for ``all``)."""

    name: str
    fn: BenefitFn
    paper: Citation
    version: str = "1"
    description: str = ""
    task_types: tuple[TaskType, ...] = ("classification",)
    estimates: str = ""
    benefit_map: BenefitMap = "linear"
    needs_features: bool = False
    needs_peer: bool = False

    def __post_init__(self) -> None:
        _check_name("benefit predictor", self.name)
        for task_type in self.task_types:
            _check_task_type("benefit predictor", self.name, task_type)
        if self.benefit_map not in BENEFIT_MAPS:
            raise SpecError(
                f"benefit predictor {self.name!r}: benefit_map {self.benefit_map!r} is not one of "
                f"{', '.join(BENEFIT_MAPS)}."
            )
        if not isinstance(self.paper, Citation):
            raise SpecError(f"benefit predictor {self.name!r} must cite its paper with a dabench.Citation.")
