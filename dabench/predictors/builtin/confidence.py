"""Confidence-based accuracy estimators: average confidence (AC), average thresholded confidence (ATC) and the
difference of confidences (DoC). All read temperature-scaled softmax outputs ``p = softmax(z / T)``
(:mod:`._common`); for segmentation every pixel is a sample and the estimate is pixel accuracy.

* **AC** (Hendrycks & Gimpel 2017, the maximum-softmax-probability baseline): ``acc_T ≈ mean_x max_j p_j(x)`` over
  the target.
* **ATC** (Garg et al. 2022, eq. 1–2): a score ``s(x)`` — the maximum confidence ``max_j p_j`` (MC) or the negative
  entropy ``sum_j p_j log p_j`` (NE) — and a threshold ``t`` fitted on the source validation data so that
  ``E_S[1(s < t)] = E_S[1(argmax_j p_j != y)]`` (the share of source samples scoring below ``t`` equals the source
  error); the target accuracy is ``E_T[1(s >= t)]``. With ``k`` misclassified of ``n`` source samples and sorted
  scores ``s_(1) <= ... <= s_(n)``, ``t`` is the midpoint of ``s_(k)`` and ``s_(k+1)`` (``-inf`` when ``k = 0``,
  ``+inf`` when ``k = n``), so exactly ``k`` source scores lie below it when the scores are distinct.
* **DoC** (Guillory et al. 2021): the accuracy drop equals the drop of average confidence,
  ``acc_T ≈ acc_S - (AC_S - AC_T)``.

References
----------
Hendrycks D, Gimpel K. A Baseline for Detecting Misclassified and Out-of-Distribution Examples in Neural Networks.
ICLR 2017.
Garg S, Balakrishnan S, Lipton ZC, Neyshabur B, Sedghi H. Leveraging Unlabeled Data to Predict Out-of-Distribution
Performance. ICLR 2022.
Guillory D, Shankar V, Ebrahimi S, Darrell T, Schmidt L. Predicting with Confidence on Unseen Distributions.
ICCV 2021.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from dabench.benefitspecs import BenefitInputs, BenefitOutput, BenefitPredictorSpec, Citation
from dabench.predictors.builtin._common import BOTH, Calibrated, calibrated, entropy

HENDRYCKS_2017 = Citation(
    authors="Dan Hendrycks, Kevin Gimpel",
    title="A Baseline for Detecting Misclassified and Out-of-Distribution Examples in Neural Networks",
    year=2017,
    venue="ICLR",
    url="https://arxiv.org/abs/1610.02136",
)
GARG_2022 = Citation(
    authors="Saurabh Garg, Sivaraman Balakrishnan, Zachary C. Lipton, Behnam Neyshabur, Hanie Sedghi",
    title="Leveraging Unlabeled Data to Predict Out-of-Distribution Performance",
    year=2022,
    venue="ICLR",
    url="https://arxiv.org/abs/2201.04234",
)
GUILLORY_2021 = Citation(
    authors="Devin Guillory, Vaishaal Shankar, Sayna Ebrahimi, Trevor Darrell, Ludwig Schmidt",
    title="Predicting with Confidence on Unseen Distributions",
    year=2021,
    venue="ICCV",
    url="https://arxiv.org/abs/2107.03315",
)

Score = Literal["mc", "ne"]


def atc_scores(probs: np.ndarray, score: Score) -> np.ndarray:
    """ATC's per-sample score: maximum confidence (``mc``) or negative entropy (``ne``) of ``[K, C]`` rows."""
    return probs.max(axis=1) if score == "mc" else -entropy(probs)


def atc_threshold(scores: np.ndarray, correct: np.ndarray) -> float:
    """Threshold ``t`` with ``mean(scores < t) = mean(~correct)`` on the source (see the module docstring)."""
    n = len(scores)
    errors = int(n - np.count_nonzero(correct))
    if errors == 0:
        return -math.inf
    if errors == n:
        return math.inf
    ordered = np.sort(scores)
    return float((ordered[errors - 1] + ordered[errors]) / 2)


def atc_accuracy(view: Calibrated, score: Score) -> float:
    """ATC's estimate of the target accuracy: the share of target scores at or above the source threshold."""
    t = atc_threshold(atc_scores(view.source_probs, score), view.source_correct)
    return float(np.mean(atc_scores(view.target_probs, score) >= t))


def average_confidence(inputs: BenefitInputs) -> BenefitOutput:
    """AC: the mean maximum (temperature-scaled) softmax probability on the target."""
    view = calibrated(inputs)
    return BenefitOutput(target_score=float(view.target_probs.max(axis=1).mean()))


def atc_mc(inputs: BenefitInputs) -> BenefitOutput:
    """ATC with the maximum-confidence score."""
    return BenefitOutput(target_score=atc_accuracy(calibrated(inputs), "mc"))


def atc_ne(inputs: BenefitInputs) -> BenefitOutput:
    """ATC with the negative-entropy score."""
    return BenefitOutput(target_score=atc_accuracy(calibrated(inputs), "ne"))


def doc(inputs: BenefitInputs) -> BenefitOutput:
    """DoC: source accuracy minus the drop of average confidence from source to target."""
    view = calibrated(inputs)
    gap = float(view.source_probs.max(axis=1).mean() - view.target_probs.max(axis=1).mean())
    return BenefitOutput(target_score=view.source_accuracy - gap)


CONFIDENCE_PREDICTORS = (
    BenefitPredictorSpec(
        name="average_confidence",
        fn=average_confidence,
        paper=HENDRYCKS_2017,
        description="Mean maximum softmax probability (temperature-scaled) on the target as its accuracy.",
        task_types=BOTH,
        estimates="accuracy",
    ),
    BenefitPredictorSpec(
        name="atc_mc",
        fn=atc_mc,
        paper=GARG_2022,
        description="ATC: share of target samples whose max confidence clears a threshold set by the source error.",
        task_types=BOTH,
        estimates="accuracy",
    ),
    BenefitPredictorSpec(
        name="atc_ne",
        fn=atc_ne,
        paper=GARG_2022,
        description="ATC: share of target samples whose negative entropy clears a threshold set by the source error.",
        task_types=BOTH,
        estimates="accuracy",
    ),
    BenefitPredictorSpec(
        name="doc",
        fn=doc,
        paper=GUILLORY_2021,
        description="DoC: source accuracy minus the drop in average confidence from source to target.",
        task_types=BOTH,
        estimates="accuracy",
    ),
)
