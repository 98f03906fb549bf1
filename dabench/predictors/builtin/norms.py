"""Matrix-norm scores of the prediction matrix: the normalised nuclear norm (Deng et al., ICML 2023) and MaNo
(Xie et al., NeurIPS 2024). Both are uncalibrated (higher = more accurate, not in accuracy units): each predictor's
``shift_score`` is ``score(source validation) - score(target)``, larger = farther from the source, and the map to
a target score or benefit is fitted on held-out studies.

* **Nuclear norm.** ``P`` the ``N x C`` softmax prediction matrix (rows on the simplex, so ``||P||_F <= sqrt(N)``
  and ``||P||_* <= sqrt(min(N, C)) ||P||_F``); the score is ``||P||_* / sqrt(N * min(N, C))`` in ``[0, 1]``: high
  when predictions are both confident and spread over the classes (one-hot and balanced: 1; uniform:
  ``1/sqrt(C min(N, C))``, i.e. ``1/C`` when ``N >= C``).
* **MaNo.** The logits ``Q`` (``N x C``) are normalised by *softrun*: the criterion
  ``Phi = -1/(N C) sum_{i,k} log softmax(q_i)_k`` (the cross-entropy between the uniform distribution and the
  softmax outputs, i.e. their mean KL divergence from uniform plus ``log C``) decides; when ``Phi > eta`` (``eta =
  5``, the paper's value) the model is confident enough and the softmax is used, otherwise the second-order Taylor
  approximation ``v = 1 + q + q^2/2`` of ``exp``, shifted by its row minimum and divided by its row sum. The score
  is the normalised entry-wise ``L_p`` norm ``(1/(N C) sum_{i,k} |Q~_ik|^p)^(1/p)`` with ``p = 4``. The criterion
  is computed on the target (the data being scored, as in the paper) and the same normalisation is applied to the
  source, so that the two scores compare like with like.

Both read the raw (not temperature-scaled) outputs, as the papers do: MaNo's normalisation is its own calibration.

References
----------
Deng W, Suh Y, Gould S, Zheng L. Confidence and Dispersity Speak: Characterizing Prediction Matrix for
Unsupervised Accuracy Estimation. ICML 2023.
Xie R, Odonnat A, Feofanov V, Deng W, Zhang J, An B. MaNo: Exploiting Matrix Norm for Unsupervised Accuracy
Estimation Under Distribution Shifts. NeurIPS 2024 (eq. 2 and 6; official code: github.com/Renchunzi-Xie/MaNo).
"""

from __future__ import annotations

import numpy as np

from dabench.benefitspecs import BenefitInputs, BenefitOutput, BenefitPredictorSpec, Citation
from dabench.predictors.builtin._common import CLASSIFICATION, check_inputs, log_softmax, require_task, softmax

MANO_P = 4
MANO_THRESHOLD = 5.0

DENG_2023 = Citation(
    authors="Weijian Deng, Yumin Suh, Stephen Gould, Liang Zheng",
    title="Confidence and Dispersity Speak: Characterizing Prediction Matrix for Unsupervised Accuracy Estimation",
    year=2023,
    venue="ICML",
    url="https://arxiv.org/abs/2302.01094",
)
XIE_2024 = Citation(
    authors="Renchunzi Xie, Ambroise Odonnat, Vasilii Feofanov, Weijian Deng, Jianfeng Zhang, Bo An",
    title="MaNo: Exploiting Matrix Norm for Unsupervised Accuracy Estimation Under Distribution Shifts",
    year=2024,
    venue="NeurIPS",
    url="https://arxiv.org/abs/2405.18979",
)


def nuclear_norm_score(probs: np.ndarray) -> float:
    """``||P||_* / sqrt(N * min(N, C))`` of an ``N x C`` prediction matrix."""
    p = np.asarray(probs, dtype=np.float64)
    n, c = p.shape
    singular = np.linalg.svd(p, compute_uv=False)
    return float(singular.sum() / np.sqrt(n * min(n, c)))


def mano_criterion(logits: np.ndarray) -> float:
    """Softrun's criterion ``Phi``: the mean cross-entropy between the uniform distribution and the softmax rows."""
    return float(-log_softmax(np.asarray(logits, dtype=np.float64)).mean())


def mano_normalise(logits: np.ndarray, use_softmax: bool) -> np.ndarray:
    """Softrun: softmax rows, or the Taylor approximation ``1 + q + q^2/2`` shifted to row minimum 0 and summed to
    1 (rows that are constant become uniform)."""
    q = np.asarray(logits, dtype=np.float64)
    if use_softmax:
        return softmax(q)
    v = 1.0 + q + q * q / 2.0
    v = v - v.min(axis=1, keepdims=True)
    total = v.sum(axis=1, keepdims=True)
    uniform = np.full_like(v, 1.0 / v.shape[1])
    return np.divide(v, total, out=uniform, where=total > 0)


def mano_score(normalised: np.ndarray, p: int = MANO_P) -> float:
    """``(1/(N C) sum |Q~|^p)^(1/p)``: the entry-wise ``L_p`` norm normalised by ``(N C)^(1/p)``."""
    return float(np.mean(np.abs(normalised) ** p) ** (1.0 / p))


def nuclear_norm(inputs: BenefitInputs) -> BenefitOutput:
    """Normalised nuclear norm on the source minus on the target."""
    require_task(inputs, "nuclear_norm", CLASSIFICATION)
    check_inputs(inputs)
    gap = nuclear_norm_score(inputs.source.probs) - nuclear_norm_score(inputs.target.probs)
    return BenefitOutput(shift_score=gap)


def mano(inputs: BenefitInputs) -> BenefitOutput:
    """MaNo score on the source minus on the target (normalisation chosen by the target's criterion)."""
    require_task(inputs, "mano", CLASSIFICATION)
    check_inputs(inputs)
    use_softmax = mano_criterion(inputs.target.logits) > MANO_THRESHOLD
    source = mano_score(mano_normalise(inputs.source.logits, use_softmax))
    target = mano_score(mano_normalise(inputs.target.logits, use_softmax))
    return BenefitOutput(shift_score=source - target)


NORM_PREDICTORS = (
    BenefitPredictorSpec(
        name="nuclear_norm",
        fn=nuclear_norm,
        paper=DENG_2023,
        description="Drop of the normalised nuclear norm of the softmax prediction matrix from source to target.",
        task_types=CLASSIFICATION,
    ),
    BenefitPredictorSpec(
        name="mano",
        fn=mano,
        paper=XIE_2024,
        description="Drop of MaNo (L4 norm of softrun-normalised logits) from source to target.",
        task_types=CLASSIFICATION,
    ),
)
