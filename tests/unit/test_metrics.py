"""Metrics against scikit-learn and direct formulas, including ties and degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    jaccard_score,
    roc_auc_score,
)

from dabench.builtins import metrics as m

RESAMPLED = {spec.name: spec for spec in m.METRICS}


def _probs(rng: np.random.Generator, n: int, c: int, *, decimals: int | None = None) -> np.ndarray:
    p = rng.dirichlet(np.ones(c), size=n)
    return np.round(p, decimals) if decimals is not None else p


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [2, 3, 7])
def test_classification_metrics_match_sklearn(seed: int, c: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, 300)
    raw = rng.integers(1, 4, (300, c)).astype(float)
    p = raw / raw.sum(1, keepdims=True)  # coarse scores: many ties
    pred = p.argmax(1)
    assert m.accuracy(y, p) == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert m.balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert m.macro_f1(y, p) == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)
    expected = roc_auc_score(y, p[:, 1]) if c == 2 else roc_auc_score(y, p, multi_class="ovr")
    assert m.auc(y, p) == pytest.approx(expected, abs=1e-12)


def test_auc_ties_count_half() -> None:
    y = np.array([0, 1, 0, 1])
    s = np.array([0.5, 0.5, 0.5, 0.5])
    p = np.stack([1 - s, s], 1)
    assert m.auc(y, p) == 0.5 == roc_auc_score(y, s)
    y2, s2 = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.4, 0.8])
    assert m.auc(y2, np.stack([1 - s2, s2], 1)) == pytest.approx(roc_auc_score(y2, s2)) == pytest.approx(0.875)


def test_auc_degenerate_class_conventions() -> None:
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert np.isnan(m.auc(np.array([1, 1]), p))
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 200)  # class 3 absent: left out of the macro mean
    p4 = _probs(rng, 200, 4)
    present = [roc_auc_score(y == k, p4[:, k]) for k in range(3)]
    assert m.auc(y, p4) == pytest.approx(np.mean(present), abs=1e-12)


def test_f1_and_balanced_accuracy_with_absent_classes() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.eye(4)[[0, 3, 1, 1, 0]]  # predicts class 3 (not in labels); class 2 in neither
    pred = p.argmax(1)
    assert m.macro_f1(y, p) == pytest.approx(f1_score(y, pred, average="macro"))
    with pytest.warns(UserWarning):
        expected = balanced_accuracy_score(y, pred)
    assert m.balanced_accuracy(y, p) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "macro_f1", "auc"])
def test_resampled_equals_metric_on_expanded_sample(name: str) -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 120)
    p = _probs(rng, 120, 4, decimals=1)
    counts = rng.multinomial(120, np.full(120, 1 / 120), size=6)
    counts[0] = 0
    counts[0, :10] = 3  # arbitrary non-negative weights work too
    spec = RESAMPLED[name]
    assert spec.resampled is not None
    got = spec.resampled(y, p, counts)
    for b in range(counts.shape[0]):
        take = np.repeat(np.arange(120), counts[b])
        assert got[b] == pytest.approx(spec.fn(y[take], p[take]), abs=1e-12, nan_ok=True)


def _seg(rng: np.random.Generator, n: int = 5, c: int = 3) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, c, (n, 8, 9))
    y[:, :4] = 0
    score = rng.random((n, c, 8, 9))
    return y, score


def test_segmentation_metrics_match_sklearn_and_formula() -> None:
    rng = np.random.default_rng(7)
    y, s = _seg(rng)
    pred = s.argmax(1)
    assert m.pixel_accuracy(y, s) == pytest.approx(accuracy_score(y.ravel(), pred.ravel()))
    assert m.dice_all(y, s) == pytest.approx(f1_score(y.ravel(), pred.ravel(), average="macro"))
    assert m.iou_all(y, s) == pytest.approx(jaccard_score(y.ravel(), pred.ravel(), average="macro"))
    assert m.dice(y, s) == pytest.approx(f1_score(y.ravel(), pred.ravel(), labels=[1, 2], average="macro"))
    assert m.iou(y, s) == pytest.approx(jaccard_score(y.ravel(), pred.ravel(), labels=[1, 2], average="macro"))
    for k in range(3):
        t, q = y == k, pred == k
        assert m.dice_per_class(y, s)[k] == pytest.approx(2 * (t & q).sum() / (t.sum() + q.sum()))
        assert m.iou_per_class(y, s)[k] == pytest.approx((t & q).sum() / (t | q).sum())


def test_segmentation_empty_class_is_excluded() -> None:
    y = np.zeros((2, 4, 4), dtype=np.int64)
    y[0, :2] = 1
    score = np.zeros((2, 3, 4, 4))
    score[:, 0] = 1.0
    score[0, 1, :1] = 2.0  # predicts class 1 on one row only; class 2 appears nowhere
    per_class = m.dice_per_class(y, score)
    assert np.isnan(per_class[2])
    assert per_class[1] == pytest.approx(2 * 4 / (8 + 4))
    assert m.dice_all(y, score) == pytest.approx(np.nanmean(per_class))
    assert m.iou_all(y, score) == pytest.approx(np.nanmean(m.iou_per_class(y, score)))
    assert m.dice(y, score) == pytest.approx(per_class[1])  # foreground: class 2 absent, background left out


@pytest.mark.parametrize("name", ["dice", "iou", "dice_all", "iou_all", "pixel_accuracy", "foreground_fraction"])
def test_segmentation_resampled_over_images(name: str) -> None:
    rng = np.random.default_rng(8)
    y, s = _seg(rng, n=6)
    counts = rng.multinomial(6, np.full(6, 1 / 6), size=5)
    spec = RESAMPLED[name]
    assert spec.task_type == "segmentation" and spec.resampled is not None
    got = spec.resampled(y, s, counts)
    for b in range(5):
        take = np.repeat(np.arange(6), counts[b])
        assert got[b] == pytest.approx(spec.fn(y[take], s[take]), abs=1e-12)


def test_specs_have_direction_and_bounds() -> None:
    names = [spec.name for spec in m.METRICS]
    assert names == [
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "auc",
        "dice",
        "iou",
        "dice_all",
        "iou_all",
        "pixel_accuracy",
        "foreground_fraction",
    ]
    assert all(spec.higher_is_better and spec.bounds == (0.0, 1.0) for spec in m.METRICS)


@pytest.mark.parametrize("c", [2, 3])
@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "macro_f1", "auc"])
def test_cell_keys_group_interchangeable_samples(name: str, c: int) -> None:
    """Counts aggregated per cell, evaluated on one representative per cell, equal the per-sample evaluation."""
    rng = np.random.default_rng(9)
    y = rng.integers(0, c, 200)
    p = _probs(rng, 200, c, decimals=1)  # coarse scores: ties, repeated score rows
    spec = RESAMPLED[name]
    assert spec.resampled is not None
    key = m.auc_cell_key if name == "auc" else m.confusion_cell_key
    _, index, inverse = np.unique(key(y, p), return_index=True, return_inverse=True)
    assert index.size < 200  # some samples share a cell
    counts = rng.multinomial(200, np.full(200, 1 / 200), size=8)
    cell_counts = np.stack([np.bincount(inverse, weights=r, minlength=index.size) for r in counts]).astype(np.int64)
    got = spec.resampled(y[index], p[index], cell_counts)
    np.testing.assert_allclose(got, spec.resampled(y, p, counts), rtol=0, atol=1e-12)
    if name == "auc" and c == 2:  # binary cells follow the score order, negatives first on ties
        order = np.lexsort((y[index] == 1, p[index, 1]))
        assert np.array_equal(order, np.arange(index.size))


def test_auc_cell_key_ties_and_single_class() -> None:
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.5, 0.5, 0.5, 0.2, 0.2])
    keys = m.auc_cell_key(y, np.stack([1 - s, s], 1))
    assert keys[0] == keys[2] and keys[1] != keys[0] and keys[3] == keys[4] and keys[3] < keys[0]
    assert (m.auc_cell_key(y, np.ones((5, 1))) == 0).all()  # one column: AUC undefined, a single cell
