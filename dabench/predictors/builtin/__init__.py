"""The built-in benefit predictors: label-free estimates, from a source-trained model's outputs, of its score on a
target domain (``target_score``) or of how far that domain is from the source (``shift_score``).

=====================  =============  ===============  ===================================================
name                   output         task types       paper
=====================  =============  ===============  ===================================================
average_confidence     target_score   both             Hendrycks & Gimpel, ICLR 2017
atc_mc, atc_ne         target_score   both             Garg et al., ICLR 2022
doc                    target_score   both             Guillory et al., ICCV 2021
cot                    target_score   classification   Lu et al., NeurIPS 2023
agreement              target_score   classification   Baek et al., NeurIPS 2022 (needs a peer model)
nuclear_norm           shift_score    classification   Deng et al., ICML 2023
mano                   shift_score    classification   Xie et al., NeurIPS 2024
latent_* (4)           shift_score    both             Stenger et al. 2023 (needs latent features)
pixel_mean_diff/std    shift_score    both             Rabanser et al., NeurIPS 2019
entropy_gap            shift_score    both             Wang et al., ICLR 2021
degradation            shift_score    both             paper 000 (benefit map: gaussian)
=====================  =============  ===============  ===================================================

The ``target_score`` predictors estimate the accuracy-like quantity of the task (``estimates="accuracy"``: accuracy
for classification, pixel accuracy for segmentation, where every pixel is a sample); the confidence-based ones read
temperature-scaled outputs (:mod:`._common`). Pure numpy/scipy; POT is imported only inside COT.
"""

from __future__ import annotations

from collections.abc import Iterable

from dabench.benefitspecs import BenefitPredictorSpec
from dabench.hookspecs import hookimpl
from dabench.predictors.builtin.agreement import AGREEMENT_PREDICTORS
from dabench.predictors.builtin.confidence import CONFIDENCE_PREDICTORS
from dabench.predictors.builtin.degradation import DEGRADATION_PREDICTORS
from dabench.predictors.builtin.norms import NORM_PREDICTORS
from dabench.predictors.builtin.shift import SHIFT_PREDICTORS
from dabench.predictors.builtin.transport import TRANSPORT_PREDICTORS

BENEFIT_PREDICTORS: tuple[BenefitPredictorSpec, ...] = (
    *CONFIDENCE_PREDICTORS,
    *TRANSPORT_PREDICTORS,
    *AGREEMENT_PREDICTORS,
    *NORM_PREDICTORS,
    *SHIFT_PREDICTORS,
    *DEGRADATION_PREDICTORS,
)


@hookimpl
def register_benefit_predictors() -> Iterable[BenefitPredictorSpec]:
    return BENEFIT_PREDICTORS
