"""Agreement between two source models trained with different seeds, agreement-on-the-line style (Baek et al.,
NeurIPS 2022).

Baek et al. observe that across a family of models, ``probit(acc_T)`` is linear in ``probit(acc_S)`` exactly when
``probit(agr_T)`` is linear in ``probit(agr_S)``, with the *same* slope and bias, where ``agr`` is the share of
samples on which two models' predicted classes agree (no labels needed). Their ALine estimators fit that line on
many model pairs. With the one pair a run has (the model and its ``peer``, the same method with another seed) the
slope cannot be fitted; dabench takes slope 1 in probit space, so the probit gap of agreement carries over to
accuracy:

    acc_T = Phi(Phi^-1(acc_S) + Phi^-1(agr_T) - Phi^-1(agr_S)),

``Phi`` the standard normal CDF, every argument of ``Phi^-1`` clipped to ``[1e-4, 1 - 1e-4]``. When source and
target agree equally often the estimate is the source accuracy. Classification only.

References
----------
Baek C, Jiang Y, Raghunathan A, Kolter JZ. Agreement-on-the-Line: Predicting the Performance of Neural Networks
under Distribution Shift. NeurIPS 2022.
"""

from __future__ import annotations

import numpy as np

from dabench.benefitspecs import BenefitInputs, BenefitOutput, BenefitPredictorSpec, Citation
from dabench.errors import SpecError
from dabench.predictors.builtin._common import CLASSIFICATION, check_inputs, require_task

PROBIT_CLIP = 1e-4

BAEK_2022 = Citation(
    authors="Christina Baek, Yiding Jiang, Aditi Raghunathan, J. Zico Kolter",
    title="Agreement-on-the-Line: Predicting the Performance of Neural Networks under Distribution Shift",
    year=2022,
    venue="NeurIPS",
    url="https://arxiv.org/abs/2206.13089",
)


def agreement_rate(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows on which the argmax of ``a`` and of ``b`` (``[N, C]`` each) agree."""
    if a.shape != b.shape:
        raise SpecError(f"the model's and the peer's outputs must have the same shape; got {a.shape} and {b.shape}.")
    return float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))


def probit_transfer(acc_source: float, agr_source: float, agr_target: float) -> float:
    """``Phi(Phi^-1(acc_S) + Phi^-1(agr_T) - Phi^-1(agr_S))`` with clipped arguments."""
    from scipy.stats import norm

    def probit(x: float) -> float:
        return float(norm.ppf(np.clip(x, PROBIT_CLIP, 1.0 - PROBIT_CLIP)))

    return float(norm.cdf(probit(acc_source) + probit(agr_target) - probit(agr_source)))


def agreement(inputs: BenefitInputs) -> BenefitOutput:
    """Agreement-on-the-line with slope 1 between the model and its peer (see the module docstring)."""
    require_task(inputs, "agreement", CLASSIFICATION)
    if inputs.peer is None:
        raise SpecError(
            "benefit predictor 'agreement' needs a peer model's outputs (BenefitInputs.peer); the runner fits one "
            "when a run names 'agreement' among its predictors."
        )
    check_inputs(inputs)
    source, target, peer = inputs.source, inputs.target, inputs.peer
    acc_source = float(np.mean(source.probs.argmax(axis=1) == source.labels))
    agr_source = agreement_rate(source.probs, peer.source_probs)
    agr_target = agreement_rate(target.probs, peer.target_probs)
    return BenefitOutput(target_score=probit_transfer(acc_source, agr_source, agr_target))


AGREEMENT_PREDICTORS = (
    BenefitPredictorSpec(
        name="agreement",
        fn=agreement,
        paper=BAEK_2022,
        description="Agreement-on-the-line (slope 1): source accuracy moved by the probit drop of seed agreement.",
        task_types=CLASSIFICATION,
        estimates="accuracy",
        needs_peer=True,
    ),
)
