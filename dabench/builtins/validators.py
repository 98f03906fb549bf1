"""Built-in unsupervised validators (model selection without target labels).

Each takes softmax outputs ``probs [N, C]`` of the target data and, when it needs them, features ``[N, D]``.
Validators are known to favour collapsed models (every sample in one class has minimal entropy and maximal
neighbourhood density), so :func:`is_collapsed` flags degenerate prediction histograms; use it to discard candidates
before ranking them with any other validator.
"""

from __future__ import annotations

import numpy as np

from dabench.specs import Citation, ValidatorSpec

SND_TEMPERATURE = 0.005
"""Default SND temperature, the value the MDD blood-cell study settled on (``beta = 0.005``)."""
COLLAPSE_MAX_SHARE = 0.95
"""A prediction histogram is collapsed when one class receives more than this share of the arg-max predictions."""
_EPS = 1e-12

MDD_BLOOD = Citation(
    authors="(authors of shared/papers/mdd-blood-cell-classification)",
    title="Domain adaptation with an adversarial algorithm for blood cell classification",
    year=2023,
    venue="shared/papers/mdd-blood-cell-classification.txt",
)
SAITO_2021 = Citation(
    authors="Kuniaki Saito, Donghyun Kim, Piotr Teterwak, Stan Sclaroff, Trevor Darrell, Kate Saenko",
    title="Tune it the Right Way: Unsupervised Validation of Domain Adaptation via Soft Neighborhood Density",
    year=2021,
    venue="ICCV",
)
SHOT_2020 = Citation(
    authors="Jian Liang, Dapeng Hu, Jiashi Feng",
    title="Do We Really Need to Access the Source Data? Source Hypothesis Transfer for Unsupervised Domain Adaptation",
    year=2020,
    venue="ICML",
)


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return -np.sum(p * np.log(np.clip(p, _EPS, None)), axis=1)


def prediction_entropy(probs: np.ndarray, features: np.ndarray | None = None) -> float:
    """Mean Shannon entropy (nats) of the predictions; lower means more confident.

    References
    ----------
    MDD blood-cell classification study (shared/papers), "Validation metrics": entropy of the softmax outputs.
    """
    return float(np.mean(_entropy_rows(probs)))


SND_MAX_SAMPLES = 2000


def soft_neighbourhood_density(
    probs: np.ndarray,
    features: np.ndarray | None = None,
    *,
    temperature: float = SND_TEMPERATURE,
    max_samples: int = SND_MAX_SAMPLES,
) -> float:
    """Soft neighbourhood density: mean entropy of the temperature-softmaxed similarity rows; higher is better.

    ``F`` are the L2-normalised features, ``X = F F^T`` without its diagonal, each row softmaxed with ``X / tau``
    and its entropy averaged over samples. Without ``features`` the softmax outputs are used as features, as in
    Saito et al. (who compute SND on the classifier's outputs). Rows are processed in blocks (memory O(block * N)).

    References
    ----------
    Saito K et al. Tune it the Right Way: Unsupervised Validation of Domain Adaptation via Soft Neighborhood
    Density. ICCV 2021. MDD blood-cell study (shared/papers), "Validation metrics" (SND with temperature).

    The cost is O(N² D): above ``max_samples`` samples a fixed, seeded subsample of ``max_samples`` is scored (SND
    is a mean over samples, so this is an unbiased estimate), keeping it to about a second per domain.
    """
    f = np.asarray(probs if features is None else features, dtype=np.float64)
    if f.shape[0] > max_samples:
        f = f[np.sort(np.random.default_rng(0).choice(f.shape[0], size=max_samples, replace=False))]
    f = f / np.clip(np.linalg.norm(f, axis=1, keepdims=True), _EPS, None)
    n = f.shape[0]
    if n < 2:
        return 0.0
    total = 0.0
    block = max(1, (1 << 22) // n)
    for start in range(0, n, block):
        sim = f[start : start + block] @ f.T / temperature
        rows = np.arange(sim.shape[0])
        sim[rows, start + rows] = -np.inf
        sim -= sim.max(axis=1, keepdims=True)
        weights = np.exp(sim)
        logp = sim - np.log(weights.sum(axis=1, keepdims=True))
        logp[rows, start + rows] = 0.0  # the removed diagonal has probability 0 and contributes nothing
        total += float(-np.sum(weights / weights.sum(axis=1, keepdims=True) * logp))
    return total / n


def information_maximisation(probs: np.ndarray, features: np.ndarray | None = None) -> float:
    """Information maximisation ``H(mean p) - mean H(p)`` (mutual information of input and prediction, nats).

    High when predictions are individually confident *and* diverse across the data; a collapsed model scores 0.

    References
    ----------
    Liang J, Hu D, Feng J. Source Hypothesis Transfer (SHOT). ICML 2020 (IM loss); Hu W et al. Learning discrete
    representations via information maximizing self-augmented training. ICML 2017.
    """
    p = np.asarray(probs, dtype=np.float64)
    return float(_entropy_rows(p.mean(axis=0, keepdims=True))[0] - _entropy_rows(p).mean())


def class_histogram(probs: np.ndarray) -> np.ndarray:
    """Share of arg-max predictions per class ``[C]``."""
    p = np.asarray(probs)
    return np.bincount(np.argmax(p, axis=1), minlength=p.shape[1]) / p.shape[0]


def prediction_balance(probs: np.ndarray, features: np.ndarray | None = None) -> float:
    """Normalised entropy of the arg-max class histogram in [0, 1]: 0 = all one class, 1 = uniform."""
    hist = class_histogram(probs)
    if hist.size < 2:
        return 0.0
    return float(_entropy_rows(hist[None, :])[0] / np.log(hist.size))


def is_collapsed(probs: np.ndarray, *, max_share: float = COLLAPSE_MAX_SHARE) -> bool:
    """Whether the predictions are degenerate: one class receives more than ``max_share`` of the arg-max labels.

    The default (95 %) flags models that map (almost) everything to one class, the failure mode that entropy and
    SND reward. Lower it for balanced target data; raise it where one class truly dominates.
    """
    return bool(class_histogram(probs).max() > max_share)


VALIDATORS: tuple[ValidatorSpec, ...] = (
    ValidatorSpec(
        name="entropy",
        fn=prediction_entropy,
        higher_is_better=False,
        description="Mean prediction entropy (lower is better).",
        paper=MDD_BLOOD,
    ),
    ValidatorSpec(
        name="snd",
        fn=soft_neighbourhood_density,
        higher_is_better=True,
        needs_features=True,
        description=f"Soft neighbourhood density, tau={SND_TEMPERATURE:g} (softmax outputs when no features).",
        paper=SAITO_2021,
    ),
    ValidatorSpec(
        name="info_max",
        fn=information_maximisation,
        higher_is_better=True,
        description="Information maximisation H(mean p) - mean H(p).",
        paper=SHOT_2020,
    ),
    ValidatorSpec(
        name="collapse",
        fn=prediction_balance,
        higher_is_better=True,
        description=(
            "Collapse guard: normalised entropy of the predicted-class histogram; see is_collapsed "
            f"(collapsed above {COLLAPSE_MAX_SHARE:.0%} in one class)."
        ),
    ),
)
