"""Paper 000's degradation-based estimate of the adaptation benefit, made label-free.

Paper 000 (section III.E) decomposes the accuracy of a domain-adversarially trained model under a test shift as

    accuracy = reference - degradation - cost + gain,

``reference`` the accuracy without shift, ``degradation`` the loss caused by the test shift, ``cost`` the loss caused
by the adaptation itself without shift and ``gain`` what adapting recovers. Section IV finds the degradation a
sigmoid of the shift intensity and the gain a Gaussian function of it (noise and blur on MNIST: the gain peaks at an
intermediate shift, where the degradation is large but the images are not yet destroyed), and on the colour shifts of
CAMELYON the gain "well correlated with the degradation".

Here the degradation is predicted without target labels: ``source accuracy (validation) - ATC-MC's estimated target
accuracy`` (:mod:`.confidence`), the predictor's ``shift_score``. Its ``benefit_map`` is ``gaussian``: the benefit is
fitted on held-out studies as a Gaussian bump of the predicted degradation, as paper 000 models the gain.

References
----------
Paper 000: shared/papers/dann-intersemantic-histopathology.txt (the file gives no authors, title or year; cited as
the project's other components cite it, :data:`dabench.builtins.citations.DANN_INTERSEMANTIC`).
"""

from __future__ import annotations

from dabench.benefitspecs import BenefitInputs, BenefitOutput, BenefitPredictorSpec
from dabench.builtins.citations import DANN_INTERSEMANTIC
from dabench.predictors.builtin._common import BOTH, calibrated
from dabench.predictors.builtin.confidence import atc_accuracy


def degradation(inputs: BenefitInputs) -> BenefitOutput:
    """The predicted degradation: source validation accuracy minus ATC-MC's target accuracy estimate."""
    view = calibrated(inputs)
    return BenefitOutput(shift_score=view.source_accuracy - atc_accuracy(view, "mc"))


DEGRADATION_PREDICTORS = (
    BenefitPredictorSpec(
        name="degradation",
        fn=degradation,
        paper=DANN_INTERSEMANTIC,
        description="Paper 000's degradation, label-free: source accuracy minus ATC-MC's target estimate.",
        task_types=BOTH,
        benefit_map="gaussian",
    ),
)
