"""Shared helpers of the built-in benefit predictors: input checks, the pixel-level view of segmentation outputs,
temperature scaling, and the calibrated view every confidence-based estimator reads.

Segmentation outputs ``[N, C, H, W]`` are read per pixel: rows ``[K, C]`` of a seeded subsample of at most
:data:`MAX_PIXELS` of the ``N*H*W`` pixels (``np.random.default_rng(inputs.seed)``; the same draw for source and
target when they have the same shape), labels ``[N, H, W]`` alike.

Temperature scaling (Guo et al. 2017): one scalar ``T > 0`` fitted on the source validation logits ``z`` and labels
``y`` by minimising the negative log-likelihood ``NLL(T) = -mean_i log softmax(z_i / T)[y_i]`` over ``log T`` in
``[-3, 3]`` (bounded Brent); the confidence-based estimators then read ``softmax(z / T)`` on source and target.

References
----------
Guo C, Pleiss G, Sun Y, Weinberger KQ. On Calibration of Modern Neural Networks. ICML 2017.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from dabench.benefitspecs import BenefitInputs, Citation
from dabench.errors import SpecError
from dabench.specs import TaskType

BOTH: tuple[TaskType, ...] = ("classification", "segmentation")
CLASSIFICATION: tuple[TaskType, ...] = ("classification",)

MAX_PIXELS = 200_000
"""At most this many pixels per side enter the pixel-level estimators (a seeded subsample)."""

LOG_T_BOUNDS = (-3.0, 3.0)
"""Search interval of ``log T`` for temperature scaling: ``T`` in ``[0.05, 20]``."""

GUO_2017 = Citation(
    authors="Chuan Guo, Geoff Pleiss, Yu Sun, Kilian Q. Weinberger",
    title="On Calibration of Modern Neural Networks",
    year=2017,
    venue="ICML",
    url="https://proceedings.mlr.press/v70/guo17a.html",
)
"""Temperature scaling, used by every confidence-based estimator (not a predictor of its own)."""


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of ``[K, C]`` logits (stable)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``[K, C]`` logits (stable)."""
    return np.exp(log_softmax(logits))


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats of every row of ``[K, C]`` probabilities (``0 log 0 = 0``)."""
    from scipy.special import xlogy

    return np.asarray(-xlogy(probs, probs).sum(axis=1))


def require_task(inputs: BenefitInputs, name: str, task_types: tuple[str, ...]) -> None:
    """A :class:`SpecError` when ``inputs`` are of a task type the predictor ``name`` does not handle."""
    if inputs.task_type not in task_types:
        raise SpecError(
            f"benefit predictor {name!r} handles {', '.join(task_types)} only, not {inputs.task_type!r}; "
            "leave it out of this run's predictors."
        )


def _check_outputs(side: str, logits: np.ndarray, task_type: str) -> None:
    ndim = 2 if task_type == "classification" else 4
    layout = "[N, C]" if ndim == 2 else "[N, C, H, W]"
    if logits.ndim != ndim or logits.shape[0] < 1 or logits.shape[1] < 2:
        raise SpecError(
            f"{side} logits must be {layout} with N >= 1 and C >= 2 for {task_type}; got shape {logits.shape}."
        )


def check_inputs(inputs: BenefitInputs) -> None:
    """Shapes that every built-in needs: logits of the task's layout, the same classes on both sides, labels that
    match the source logits and name valid classes."""
    source, target = inputs.source, inputs.target
    _check_outputs("source", np.asarray(source.logits), inputs.task_type)
    _check_outputs("target", np.asarray(target.logits), inputs.task_type)
    if source.logits.shape[1] != target.logits.shape[1]:
        raise SpecError(
            f"source and target logits must have the same classes; got {source.logits.shape[1]} and "
            f"{target.logits.shape[1]}."
        )
    labels = np.asarray(source.labels)
    expected = (source.logits.shape[0], *source.logits.shape[2:])
    if labels.shape != expected:
        raise SpecError(f"source labels must have shape {expected} to match the source logits; got {labels.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() >= source.logits.shape[1]):
        raise SpecError(
            f"source labels must lie in [0, {source.logits.shape[1]}); got [{labels.min()}, {labels.max()}]."
        )


def pixel_index(shape: tuple[int, ...], seed: int, cap: int | None = None) -> np.ndarray | None:
    """Sorted flat indices into the ``N*H*W`` pixels of ``[N, C, H, W]`` outputs (``shape``), a seeded subsample of
    at most ``cap`` (default :data:`MAX_PIXELS`); None when every pixel is kept."""
    n, _, h, w = shape
    total = n * h * w
    cap = MAX_PIXELS if cap is None else cap
    if total <= cap:
        return None
    return np.sort(np.random.default_rng(seed).choice(total, cap, replace=False))


def as_rows(values: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """``[K, C]`` rows of ``[N, C]`` (as they are) or ``[N, C, H, W]`` outputs (the pixels ``index`` names, all
    when None), float64."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        return values
    n, c, h, w = values.shape
    if index is None:
        return values.transpose(0, 2, 3, 1).reshape(n * h * w, c)
    img, rest = np.divmod(index, h * w)
    row, col = np.divmod(rest, w)
    return values[img, :, row, col]


def label_rows(labels: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """Labels ``[N]`` (as they are) or masks ``[N, H, W]`` flattened to the pixels ``index`` names (all when None)."""
    flat = np.asarray(labels).reshape(-1)
    return (flat if index is None else flat[index]).astype(np.int64)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature ``T`` minimising the NLL of ``softmax(logits / T)`` on ``labels`` (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)  # softmax(z / T) is unchanged; exp(z / T) <= 1 for every T > 0
    z_true = z[np.arange(len(z)), np.asarray(labels, dtype=np.int64)]

    def nll(log_t: float) -> float:
        inv_t = float(np.exp(-log_t))
        return float(np.log(np.exp(z * inv_t).sum(axis=1)).mean() - inv_t * z_true.mean())

    result = minimize_scalar(nll, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-3})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class Calibrated:
    """Temperature-scaled softmax rows of the source validation data and the target (pixels for segmentation)."""

    temperature: float
    source_probs: np.ndarray
    source_labels: np.ndarray
    target_probs: np.ndarray

    @property
    def source_correct(self) -> np.ndarray:
        return np.asarray(self.source_probs.argmax(axis=1) == self.source_labels)

    @property
    def source_accuracy(self) -> float:
        return float(self.source_correct.mean())


_LAST: dict[str, Any] = {}
"""One-entry memo of :func:`calibrated`: the estimators of one target domain share the fit (keyed by the identity
of the arrays, held by weak references, and the seed)."""


def _memo_key(inputs: BenefitInputs) -> tuple[Any, ...]:
    arrays = (inputs.source.logits, inputs.source.labels, inputs.target.logits)
    return (*(weakref.ref(a) for a in arrays), inputs.task_type, inputs.seed)


def _memo_hit(inputs: BenefitInputs) -> Calibrated | None:
    entry = _LAST.get("entry")
    if entry is None:
        return None
    key, value = entry
    arrays = (inputs.source.logits, inputs.source.labels, inputs.target.logits)
    same = all(ref() is a for ref, a in zip(key[:3], arrays, strict=True))
    return value if same and key[3:] == (inputs.task_type, inputs.seed) else None


def calibrated(inputs: BenefitInputs) -> Calibrated:
    """The :class:`Calibrated` view of ``inputs`` (checked; temperature fitted on the source validation rows)."""
    hit = _memo_hit(inputs)
    if hit is not None:
        return hit
    check_inputs(inputs)
    source, target = inputs.source, inputs.target
    src_idx = pixel_index(source.logits.shape, inputs.seed) if source.logits.ndim == 4 else None
    tgt_idx = pixel_index(target.logits.shape, inputs.seed) if target.logits.ndim == 4 else None
    src_logits = as_rows(source.logits, src_idx)
    labels = label_rows(source.labels, src_idx)
    temperature = fit_temperature(src_logits, labels)
    value = Calibrated(
        temperature=temperature,
        source_probs=softmax(src_logits / temperature),
        source_labels=labels,
        target_probs=softmax(as_rows(target.logits, tgt_idx) / temperature),
    )
    try:
        _LAST["entry"] = (_memo_key(inputs), value)
    except TypeError:  # arrays that take no weak reference (never from the runner): no memo
        _LAST.pop("entry", None)
    return value


def subsample_rows(x: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most ``cap`` rows of ``x`` (a seeded subsample without replacement, in their original order)."""
    if x.shape[0] <= cap:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(x.shape[0], cap, replace=False))]
