"""Segmentation metrics: foreground Dice / IoU (background excluded), the all-class variants, the predicted
foreground fraction (paper 004's "all white / all black" detector) and image-level bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score

from dabench.builtins import metrics as m
from dabench.registry import build_registry
from dabench.stats.bootstrap import bootstrap, replicates
from dabench.stats.resampling import count_chunks

SPECS = {spec.name: spec for spec in m.METRICS}
SEGMENTATION = ("dice", "iou", "dice_all", "iou_all", "pixel_accuracy", "foreground_fraction")


def _scores(pred: np.ndarray, c: int = 2) -> np.ndarray:
    """One-hot-like scores ``[N, C, H, W]`` whose arg-max is ``pred``."""
    return np.moveaxis(np.eye(c)[pred], -1, 1) * 0.8 + 0.1


def _binary(rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random((n, 10, 12)) < 0.3).astype(np.int64)
    return y, rng.random((n, 2, 10, 12))


def test_binary_dice_and_iou_are_the_foreground_scores() -> None:
    y, s = _binary(np.random.default_rng(0))
    pred = s.argmax(1)
    assert m.dice(y, s) == pytest.approx(f1_score(y.ravel(), pred.ravel()))  # pos_label=1: foreground only
    assert m.iou(y, s) == pytest.approx(jaccard_score(y.ravel(), pred.ravel()))
    assert m.dice(y, s) == pytest.approx(m.dice_per_class(y, s)[1])
    assert m.dice_all(y, s) == pytest.approx(np.mean(m.dice_per_class(y, s)))
    assert m.dice(y, s) != pytest.approx(m.dice_all(y, s))


def test_multiclass_foreground_mean_leaves_background_and_absent_classes_out() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, (4, 8, 8))  # class 3 never occurs
    s = rng.random((4, 4, 8, 8))
    s[:, 3] = -1.0
    per_class = m.dice_per_class(y, s)
    assert np.isnan(per_class[3])
    assert m.dice(y, s) == pytest.approx(np.mean(per_class[1:3]))
    assert m.iou(y, s) == pytest.approx(np.mean(m.iou_per_class(y, s)[1:3]))
    assert m.dice_all(y, s) == pytest.approx(np.mean(per_class[:3]))


def test_all_black_and_all_white_predictions() -> None:
    y = np.zeros((3, 8, 8), dtype=np.int64)
    y[:, 2:6, 2:6] = 1  # 16 foreground pixels of 64 per image
    black, white = _scores(np.zeros_like(y)), _scores(np.ones_like(y))
    assert m.dice(y, black) == 0.0 and m.iou(y, black) == 0.0  # paper 004: all black scores 0
    assert m.foreground_fraction(y, black) == 0.0
    assert m.foreground_fraction(y, white) == 1.0
    assert m.dice(y, white) == pytest.approx(2 * 16 / (16 + 64))
    assert m.foreground_fraction(y, _scores(y)) == pytest.approx(0.25)


def test_no_foreground_anywhere_is_perfect_agreement() -> None:
    y = np.zeros((2, 5, 5), dtype=np.int64)
    empty = _scores(y, c=3)
    for name in ("dice", "iou", "dice_all", "iou_all", "pixel_accuracy"):
        assert SPECS[name].fn(y, empty) == 1.0, name
    one_class = np.ones((2, 1, 5, 5))
    assert np.isnan(m.dice(y, one_class)) and np.isnan(m.iou(y, one_class))  # no foreground class at all


def test_resampled_handles_replicates_without_foreground() -> None:
    y = np.zeros((2, 4, 4), dtype=np.int64)
    y[1, :2] = 1  # image 0 has no foreground, image 1 has
    s = _scores(np.zeros_like(y))  # predicts background everywhere
    counts = np.array([[2, 0], [0, 2], [1, 1]])
    assert m.dice_resampled(y, s, counts).tolist() == [1.0, 0.0, 0.0]
    assert m.foreground_fraction_resampled(y, _scores(y), counts).tolist() == [0.0, 0.5, 0.25]


def test_bootstrap_resamples_images() -> None:
    rng = np.random.default_rng(3)
    y, s = _binary(rng, n=7)
    for name in SEGMENTATION:
        spec = SPECS[name]
        got = replicates(spec, y, s, n_boot=40, seed=5)
        counts = np.concatenate(list(count_chunks(7, 40, 5, groups=None, chunk_rows=None, reuse=False)))
        assert counts.shape == (40, 7)  # one multiplicity per image, not per pixel
        expected = [spec.fn(y[np.repeat(np.arange(7), row)], s[np.repeat(np.arange(7), row)]) for row in counts]
        np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=name)


def test_identical_images_give_zero_width_intervals() -> None:
    rng = np.random.default_rng(4)
    y, s = _binary(rng, n=1)
    y, s = np.repeat(y, 9, axis=0), np.repeat(s, 9, axis=0)
    for name in SEGMENTATION:
        e = bootstrap(SPECS[name], y, s, n_boot=200, seed=0)
        assert e.low == pytest.approx(e.value) and e.high == pytest.approx(e.value), name
    mixed_y, mixed_s = _binary(rng, n=9)  # different images: the intervals open up
    e = bootstrap(SPECS["dice"], mixed_y, mixed_s, n_boot=200, seed=0)
    assert e.high - e.low > 0.01


def test_specs_registered_for_segmentation() -> None:
    registry = build_registry()
    names = registry.default_metrics("segmentation")
    assert set(SEGMENTATION) <= set(names)
    assert names[0] == "dice"  # a run's first metric is its primary (ranked) one
    assert SPECS["dice"].version == SPECS["iou"].version == "2"  # values changed: background left out
    assert all(SPECS[n].task_type == "segmentation" and SPECS[n].bounds == (0.0, 1.0) for n in SEGMENTATION)
    assert "not a score" in SPECS["foreground_fraction"].description
