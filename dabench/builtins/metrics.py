"""Built-in metrics, each with a vectorised ``resampled(y_true, y_score, counts)`` for the shared bootstrap.

Classification: ``y_true [N]`` int labels, ``y_score [N, C]`` class probabilities. Segmentation: ``y_true [N, H, W]``
and ``y_score [N, C, H, W]``; the images are the resampled units. ``counts [B, N]`` are non-negative integer
multiplicities; every metric on ``counts`` equals the metric on the sample repeated accordingly.

Conventions (mirroring scikit-learn):

* ``macro_f1`` averages per-class F1 over the classes present in the labels or the predictions; ``balanced_accuracy``
  averages recall over the classes present in the labels.
* ``auc``: with two columns, the ROC AUC of ``y_score[:, 1]`` for class 1 (ties count one half); with more, the
  unweighted mean of one-vs-rest AUCs (``roc_auc_score(multi_class="ovr", average="macro")``). A class without
  positives or without negatives has no AUC and is left out of the mean (scikit-learn raises instead); with no
  class left the AUC is NaN.
* ``dice`` / ``iou`` are *foreground* scores: per class, true/false positives and false negatives are pooled over
  all pixels of all images (pixel-level F1 and Jaccard index), then averaged over the foreground classes ``1..C-1``
  (class 0 is the background); with two classes that is the foreground Dice / IoU of the BN-adaptation study
  (paper 004). A foreground class absent from both truth and prediction is *excluded* (NaN per class, left out of
  the mean), like scikit-learn's ``f1_score`` / ``jaccard_score`` which average over the labels present in either.
  When no foreground class is present in truth or prediction, nothing was to be found and nothing was predicted:
  the score is 1 (perfect agreement). An "all black" prediction (paper 004's failure without adaptation) on truth
  with foreground scores 0. With fewer than two classes there is no foreground and the score is NaN.
* ``dice_all`` / ``iou_all`` average over every class present in truth or prediction, background included (the
  scikit-learn macro average). Per-class values: :func:`dice_per_class` and :func:`iou_per_class` (a registered
  metric has one value, so per-class metrics would need the number of classes).
* ``foreground_fraction`` is a *diagnostic*, not a score: the share of pixels whose arg-max class is not the
  background, pooled over pixels. Near 1 or 0 it flags paper 004's "all white" / "all black" predictions. A metric
  spec must carry a direction; it has ``higher_is_better=True`` like every other metric (the leaderboards' default),
  but neither direction is better, so never rank on it (rank on ``dice``).
* Segmentation replicates resample *images* (``counts`` are per image), since pixels of one image are not
  independent.

Cell keys (exact bootstrap fast path, see :mod:`dabench.stats.bootstrap`): accuracy, balanced accuracy and macro-F1
depend
on the samples only through the ``C x C`` confusion cells (key ``label * C + prediction``); AUC only through the
(distinct score, positive) cells when binary, and the (label, score row) cells for one-vs-rest. Each ``resampled``
is registered with its key (:func:`dabench.stats.bootstrap.register_cell_key`), so the shared bootstrap draws cell
counts
(``O(C^2)`` per replicate for the confusion metrics) instead of per-sample counts; the values are unchanged because
``resampled`` on one representative per cell, weighted by cell counts, is the metric on the expanded resample.

The per-data preparation of ``resampled`` (sorting, confusion cells) is memoised for *read-only* inputs, which the
shared bootstrap passes (fresh read-only views per call), so evaluating many chunks of replicates sorts once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from dabench.specs import MetricSpec
from dabench.stats.bootstrap import register_cell_key

# ------------------------------------------------------------------------------------------------ helpers


_MEMO: dict[str, tuple[Any, Any, Any]] = {}


def _memo(kind: str, y_true: np.ndarray, y_score: np.ndarray, build: Callable[[], Any]) -> Any:
    """``build()``, reused while called again with the very same read-only arrays (writeable inputs: no reuse)."""
    if y_true.flags.writeable or y_score.flags.writeable:
        return build()
    hit = _MEMO.get(kind)
    if hit is not None and hit[0]() is y_true and hit[1]() is y_score:
        return hit[2]
    prepared = build()
    _MEMO[kind] = (weakref.ref(y_true), weakref.ref(y_score), prepared)
    return prepared


def _ones(n: int) -> np.ndarray:
    return np.ones((1, n), dtype=np.int64)


def _predictions(y_score: np.ndarray) -> np.ndarray:
    return np.argmax(y_score, axis=1)


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort order, segment starts and the key of each segment, to sum counts per key."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return order, starts, sorted_keys[starts]


def _weighted_confusion(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Confusion matrices ``[B, C, C]`` (rows: truth, columns: prediction) of every replicate."""
    c = y_score.shape[1]

    def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _segments(np.asarray(y_true, dtype=np.int64) * c + _predictions(y_score))

    order, starts, present = _memo("confusion", y_true, y_score, build)
    out = np.zeros((counts.shape[0], c * c), dtype=np.int64)
    out[:, present] = np.add.reduceat(np.take(counts, order, axis=1), starts, axis=1)
    return out.reshape(-1, c, c)


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row means of ``values`` over ``mask``; NaN for rows with an empty mask."""
    n = mask.sum(axis=1)
    total = np.where(mask, values, 0.0).sum(axis=1)
    return np.divide(total, n, out=np.full(total.shape, np.nan), where=n > 0)


# ----------------------------------------------------------------------------------------- classification


def accuracy(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Share of samples whose arg-max class equals the label."""
    return float(np.mean(np.argmax(y_score, axis=1) == y_true))


def accuracy_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Accuracy of every replicate: the count-weighted mean of correctness."""
    correct = _memo("accuracy", y_true, y_score, lambda: (_predictions(y_score) == y_true).astype(np.int64))
    return (counts @ correct) / counts.sum(axis=1)


def macro_f1(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over classes present in labels or predictions (scikit-learn's convention:
    a class with no true and no predicted samples is left out; F1 of a class with 0 precision and recall is 0)."""
    num_classes = y_score.shape[1]
    cm = _confusion(np.asarray(y_true, dtype=np.int64), np.argmax(y_score, axis=1), num_classes)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def macro_f1_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Macro-F1 of every replicate from count-weighted confusion matrices."""
    cm = _weighted_confusion(y_true, y_score, counts)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    denom = cm.sum(axis=2) + cm.sum(axis=1)
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    return np.nan_to_num(_masked_mean(f1, denom > 0), nan=0.0)


def balanced_accuracy_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Balanced accuracy of every replicate: mean recall over the classes present in the labels."""
    cm = _weighted_confusion(y_true, y_score, counts)
    support = cm.sum(axis=2)
    recall = np.divide(np.diagonal(cm, axis1=1, axis2=2), support, out=np.zeros(support.shape), where=support > 0)
    return _masked_mean(recall, support > 0)


def balanced_accuracy(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true`` (``sklearn.metrics.balanced_accuracy_score``)."""
    return float(balanced_accuracy_resampled(y_true, y_score, _ones(len(y_true)))[0])


def _auc_plan(score: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, ...]:
    """Negatives in score order, positives, and each positive's range of tied negatives in that order."""
    neg_idx, pos_idx = np.flatnonzero(~positive), np.flatnonzero(positive)
    neg_order = neg_idx[np.argsort(score[neg_idx], kind="stable")]
    neg_scores = score[neg_order]
    lo = np.searchsorted(neg_scores, score[pos_idx], side="left")
    hi = np.searchsorted(neg_scores, score[pos_idx], side="right")
    return neg_order, pos_idx, lo, hi


def _binary_auc(plan: tuple[np.ndarray, ...], counts: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC per replicate (Mann-Whitney form, ties count 1/2); NaN without positives or negatives.

    Scores are sorted once (:func:`_auc_plan`); for each positive, the weight of negatives scoring below it (and
    tied with it) is read from prefix sums of the negatives' counts, so a replicate costs O(N).
    """
    neg_order, pos_idx, lo, hi = plan
    cum = np.zeros((counts.shape[0], neg_order.size + 1), dtype=np.int64)
    np.cumsum(np.take(counts, neg_order, axis=1), axis=1, out=cum[:, 1:])
    pos_counts = np.take(counts, pos_idx, axis=1)
    twice_below = np.take(cum, lo, axis=1)
    twice_below *= 2
    if np.any(hi != lo):
        twice_below += np.take(cum, hi, axis=1) - np.take(cum, lo, axis=1)
    numerator = np.einsum("bi,bi->b", pos_counts, twice_below)
    denom = 2.0 * pos_counts.sum(axis=1) * cum[:, -1]
    return np.divide(numerator, denom, out=np.full(denom.shape, np.nan), where=denom > 0)


def auc_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC AUC of every replicate (binary, or one-vs-rest macro average for more than two classes)."""
    c = y_score.shape[1]
    if c < 2:
        return np.full(counts.shape[0], np.nan)

    def build() -> list[tuple[np.ndarray, ...]]:
        if c == 2:
            return [_auc_plan(y_score[:, 1], y_true == 1)]
        return [_auc_plan(y_score[:, k], y_true == k) for k in range(c)]

    plans = _memo("auc", y_true, y_score, build)
    if c == 2:
        return _binary_auc(plans[0], counts)
    per_class = np.stack([_binary_auc(plan, counts) for plan in plans], axis=1)
    return _masked_mean(np.nan_to_num(per_class), ~np.isnan(per_class))


def auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC: binary on ``y_score[:, 1]`` or one-vs-rest macro (``roc_auc_score(multi_class="ovr")``)."""
    return float(auc_resampled(y_true, y_score, _ones(len(y_true)))[0])


# ------------------------------------------------------------------------------------------- segmentation


def _image_confusions(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Per-image confusion matrices ``[N, C*C]`` (row-major: truth * C + prediction)."""
    n, c = y_score.shape[0], y_score.shape[1]
    cells = np.asarray(y_true, dtype=np.int64).reshape(n, -1) * c + _predictions(y_score).reshape(n, -1)
    cells += (np.arange(n, dtype=np.int64) * c * c)[:, None]
    return np.bincount(cells.ravel(), minlength=n * c * c).reshape(n, c * c)


def _pooled_confusion(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    c = y_score.shape[1]
    per_image = _memo("segmentation", y_true, y_score, lambda: _image_confusions(y_true, y_score))
    return (counts @ per_image).reshape(-1, c, c)


def _overlap(cm: np.ndarray, kind: str) -> np.ndarray:
    """Per-class dice or IoU ``[B, C]`` from pooled confusions; NaN where truth and prediction are both empty."""
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    both = cm.sum(axis=2) + cm.sum(axis=1)
    num, denom = (2.0 * tp, both) if kind == "dice" else (tp, both - tp)
    return np.divide(num, denom, out=np.full(tp.shape, np.nan), where=denom > 0)


def dice_per_class(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Dice ``2|T∩P| / (|T| + |P|)`` per class ``[C]``, pooled over all pixels; NaN where both are empty."""
    return _overlap(_pooled_confusion(y_true, y_score, _ones(len(y_true))), "dice")[0]


def iou_per_class(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """IoU ``|T∩P| / |T∪P|`` per class ``[C]``, pooled over all pixels; NaN where both are empty."""
    return _overlap(_pooled_confusion(y_true, y_score, _ones(len(y_true))), "iou")[0]


def _present_mean(per_class: np.ndarray) -> np.ndarray:
    """Row means over the classes that are not NaN (present in truth or prediction); NaN for a row with none."""
    return _masked_mean(np.nan_to_num(per_class), ~np.isnan(per_class))


def _foreground_mean(per_class: np.ndarray) -> np.ndarray:
    """Row means over the present foreground classes ``1..C-1``; 1 where none is present in truth or prediction
    (empty truth, empty prediction: perfect agreement); NaN with fewer than two classes (no foreground)."""
    foreground = per_class[:, 1:]
    if foreground.shape[1] == 0:
        return np.full(per_class.shape[0], np.nan)
    return np.where(np.isnan(foreground).all(axis=1), 1.0, _present_mean(foreground))


def dice_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Foreground dice (mean over present classes ``1..C-1``) for every replicate of images."""
    return _foreground_mean(_overlap(_pooled_confusion(y_true, y_score, counts), "dice"))


def iou_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Foreground IoU (mean over present classes ``1..C-1``) for every replicate of images."""
    return _foreground_mean(_overlap(_pooled_confusion(y_true, y_score, counts), "iou"))


def dice_all_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean dice over every present class, background included, for every replicate of images."""
    return _present_mean(_overlap(_pooled_confusion(y_true, y_score, counts), "dice"))


def iou_all_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean IoU over every present class, background included, for every replicate of images."""
    return _present_mean(_overlap(_pooled_confusion(y_true, y_score, counts), "iou"))


def dice(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Foreground dice: mean of :func:`dice_per_class` over the classes ``1..C-1`` present in truth or prediction
    (1 when none is, NaN with one class)."""
    return float(dice_resampled(y_true, y_score, _ones(len(y_true)))[0])


def iou(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Foreground IoU: mean of :func:`iou_per_class` over the classes ``1..C-1`` present in truth or prediction
    (1 when none is, NaN with one class)."""
    return float(iou_resampled(y_true, y_score, _ones(len(y_true)))[0])


def dice_all(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Mean of :func:`dice_per_class` over every class present in truth or prediction, background included."""
    return float(dice_all_resampled(y_true, y_score, _ones(len(y_true)))[0])


def iou_all(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Mean of :func:`iou_per_class` over every class present in truth or prediction (scikit-learn's macro IoU)."""
    return float(iou_all_resampled(y_true, y_score, _ones(len(y_true)))[0])


def foreground_fraction_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Share of pixels predicted as a foreground class (arg-max not 0) for every replicate of images."""
    cm = _pooled_confusion(y_true, y_score, counts)
    return cm[:, :, 1:].sum(axis=(1, 2)) / cm.sum(axis=(1, 2))


def foreground_fraction(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Share of pixels whose arg-max class is not the background (a diagnostic: near 1 "all white", near 0 "all
    black", paper 004)."""
    return float(np.mean(_predictions(y_score) != 0))


def pixel_accuracy_resampled(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Share of correctly labelled pixels for every replicate of images."""
    cm = _pooled_confusion(y_true, y_score, counts)
    return np.trace(cm, axis1=1, axis2=2) / cm.sum(axis=(1, 2))


def pixel_accuracy(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Share of pixels whose arg-max class equals the mask."""
    return float(np.mean(_predictions(y_score) == np.asarray(y_true)))


# ----------------------------------------------------------------------------------------------- cell keys


def confusion_cell_key(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Key ``label * C + prediction``: samples in the same confusion cell are interchangeable for confusion metrics."""
    return np.asarray(y_true, dtype=np.int64).reshape(-1) * y_score.shape[1] + _predictions(y_score)


def auc_cell_key(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Key of interchangeable samples for :func:`auc`: binary, the (distinct score of class 1, label is 1) pair,
    ordered by score (negatives first on ties); one-vs-rest, the (label, score row) pair."""
    y_true = np.asarray(y_true).reshape(-1)
    if y_score.shape[1] < 2:
        return np.zeros(y_true.shape[0], dtype=np.int64)
    if y_score.shape[1] == 2:
        rank = np.unique(y_score[:, 1], return_inverse=True)[1].reshape(-1).astype(np.int64)
        return rank * 2 + (y_true == 1)
    rows = np.column_stack([y_true.astype(np.float64), y_score])
    return np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


for _resampled in (accuracy_resampled, balanced_accuracy_resampled, macro_f1_resampled):
    register_cell_key(_resampled, confusion_cell_key)
register_cell_key(auc_resampled, auc_cell_key)


def _spec(
    name: str,
    fn: object,
    resampled: object,
    description: str,
    task_type: str = "classification",
    version: str = "1",
    diagnostic: bool = False,
) -> MetricSpec:
    return MetricSpec(
        name=name,
        fn=fn,  # type: ignore[arg-type]
        resampled=resampled,  # type: ignore[arg-type]
        higher_is_better=True,
        bounds=(0.0, 1.0),
        task_type=task_type,  # type: ignore[arg-type]
        description=description,
        version=version,
        diagnostic=diagnostic,
    )


METRICS = (
    _spec("accuracy", accuracy, accuracy_resampled, "Top-1 accuracy."),
    _spec("balanced_accuracy", balanced_accuracy, balanced_accuracy_resampled, "Mean per-class recall."),
    _spec("macro_f1", macro_f1, macro_f1_resampled, "Macro-averaged F1."),
    _spec("auc", auc, auc_resampled, "ROC AUC (binary; one-vs-rest macro for more classes)."),
    # version 2: foreground classes only (version 1 averaged over every class, now dice_all / iou_all)
    _spec(
        "dice",
        dice,
        dice_resampled,
        "Foreground Dice: mean over classes 1..C-1 (background excluded), pixels pooled over images.",
        "segmentation",
        "2",
    ),
    _spec(
        "iou",
        iou,
        iou_resampled,
        "Foreground IoU (Jaccard): mean over classes 1..C-1 (background excluded), pixels pooled over images.",
        "segmentation",
        "2",
    ),
    _spec(
        "dice_all",
        dice_all,
        dice_all_resampled,
        "Mean Dice over every class, background included, pixels pooled over images.",
        "segmentation",
    ),
    _spec(
        "iou_all",
        iou_all,
        iou_all_resampled,
        "Mean IoU over every class, background included, pixels pooled over images.",
        "segmentation",
    ),
    _spec("pixel_accuracy", pixel_accuracy, pixel_accuracy_resampled, "Share of correct pixels.", "segmentation"),
    _spec(
        "foreground_fraction",
        foreground_fraction,
        foreground_fraction_resampled,
        "Diagnostic, not a score (do not rank on it): share of pixels predicted foreground (arg-max not class 0); "
        "near 1 or 0 flags all-white / all-black predictions.",
        "segmentation",
        diagnostic=True,
    ),
)
