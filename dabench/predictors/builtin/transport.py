"""Confidence optimal transport (COT; Lu et al., NeurIPS 2023): the target error is the optimal-transport cost
between the model's (temperature-scaled) softmax outputs on the target and the source label distribution.

The label distribution is the set of one-hot vectors ``e_k`` weighted by the source validation class frequencies
``pi_k``; the target is ``n`` softmax vectors ``p_i`` of mass ``1/n`` (at most :data:`MAX_SAMPLES`, a seeded
subsample). The paper's ground cost between a softmax vector and a one-hot vector is the L-infinity distance
(its code: the total-variation distance ``||p - e_k||_1 / 2``); for a one-hot target both equal ``1 - p_k``
(``max_{j != k} p_j <= sum_{j != k} p_j = 1 - p_k``), so the cost matrix is ``M[i, k] = 1 - p_i[k]``. Then

    err_COT = min_{G in U(1/n, pi)} sum_{i,k} G[i, k] M[i, k],    target accuracy = 1 - err_COT,

solved exactly by POT's network simplex (``ot.emd``) on the ``n x C`` matrix. A perfectly confident target whose
predicted classes follow the source label distribution has cost 0; a target of uniform outputs has ``1 - 1/C``.

References
----------
Lu Y, Qin Y, Zhai R, Shen A, Chen K, Wang Z, Kolouri S, Stepputtis S, Campbell J, Sycara K. Characterizing
Out-of-Distribution Error via Optimal Transport. NeurIPS 2023 (official code: github.com/luyuzhe111/COT).
Flamary R et al. POT: Python Optimal Transport. JMLR 22(78), 2021.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dabench.benefitspecs import BenefitInputs, BenefitOutput, BenefitPredictorSpec, Citation
from dabench.predictors.builtin._common import CLASSIFICATION, calibrated, require_task, subsample_rows

MAX_SAMPLES = 2000
"""At most this many target samples enter the transport problem (a seeded subsample)."""

LU_2023 = Citation(
    authors=(
        "Yuzhe Lu, Yilong Qin, Runtian Zhai, Andrew Shen, Ketong Chen, Zhenlin Wang, Soheil Kolouri, "
        "Simon Stepputtis, Joseph Campbell, Katia Sycara"
    ),
    title="Characterizing Out-of-Distribution Error via Optimal Transport",
    year=2023,
    venue="NeurIPS",
    url="https://arxiv.org/abs/2305.15640",
)


def _import_ot() -> Any:
    """POT, imported with Python's global RNG left as it was: its first import pulls in scikit-learn and ``rich``,
    whose ``rich.style`` draws ``random.getrandbits`` at import time, so a run would otherwise depend on whether COT
    was the first to import it."""
    import random

    state = random.getstate()
    try:
        import ot
    finally:
        random.setstate(state)
    return ot


def cot_error(target_probs: np.ndarray, class_weights: np.ndarray) -> float:
    """The COT cost between softmax rows ``[n, C]`` (mass ``1/n`` each) and one-hot atoms of mass ``class_weights``."""
    ot = _import_ot()
    weights = np.asarray(class_weights, dtype=np.float64)
    keep = weights > 0
    b = weights[keep] / weights[keep].sum()
    cost = 1.0 - np.asarray(target_probs, dtype=np.float64)[:, keep]
    a = np.full(cost.shape[0], 1.0 / cost.shape[0])
    plan = ot.emd(a, b, cost, numItermax=10_000_000)
    return float(np.clip(np.sum(plan * cost), 0.0, 1.0))


def cot(inputs: BenefitInputs) -> BenefitOutput:
    """COT: one minus the transport cost from the target outputs to the source label distribution."""
    require_task(inputs, "cot", CLASSIFICATION)
    view = calibrated(inputs)
    frequencies = np.bincount(view.source_labels, minlength=view.source_probs.shape[1]).astype(np.float64)
    target = subsample_rows(view.target_probs, MAX_SAMPLES, inputs.seed)
    return BenefitOutput(target_score=1.0 - cot_error(target, frequencies))


TRANSPORT_PREDICTORS = (
    BenefitPredictorSpec(
        name="cot",
        fn=cot,
        paper=LU_2023,
        description="COT: 1 - optimal-transport cost from target softmax outputs to the source label distribution.",
        task_types=CLASSIFICATION,
        estimates="accuracy",
    ),
)
