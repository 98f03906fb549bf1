"""The built-in benefit predictors (``dabench.predictors.builtin``) on synthetic numpy inputs: fixed points
(identical source and target), monotonicity under a harder target, ATC's threshold property, temperature scaling,
COT's zero-cost case, known values of the matrix norms, segmentation shapes, determinism and input errors."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from dabench.benefitspecs import BenefitInputs, BenefitOutput, PeerOutputs, SourceOutputs, TargetOutputs
from dabench.errors import SpecError
from dabench.predictors.builtin import BENEFIT_PREDICTORS, _common, register_benefit_predictors
from dabench.predictors.builtin.confidence import atc_scores, atc_threshold
from dabench.predictors.builtin.norms import mano_criterion, mano_normalise, mano_score, nuclear_norm_score
from dabench.predictors.builtin.transport import cot_error

C = 5


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over axis 1 (classes) of ``[N, C]`` or ``[N, C, H, W]`` logits."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def calibrated_logits(n: int, rng: np.random.Generator, sharp: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``[n, C]`` peaked at a random class, and labels drawn from their own softmax (calibrated, T = 1)."""
    centre = rng.integers(0, C, n)
    logits = sharp * np.eye(C)[centre] + rng.standard_normal((n, C))
    cumulative = softmax(logits).cumsum(axis=1)
    labels = np.minimum((rng.uniform(size=(n, 1)) > cumulative).sum(axis=1), C - 1)
    return logits, labels.astype(np.int64)


def source_outputs(logits: np.ndarray, labels: np.ndarray, features: np.ndarray, images: np.ndarray) -> SourceOutputs:
    return SourceOutputs(probs=softmax(logits), logits=logits, features=features, images=images, labels=labels)


def target_outputs(logits: np.ndarray, features: np.ndarray | None, images: np.ndarray) -> TargetOutputs:
    return TargetOutputs(probs=softmax(logits), logits=logits, features=features, images=images)


def classification(*, hard: bool, n: int = 2000, seed: int = 0) -> BenefitInputs:
    """Source validation outputs and a target that is either the source itself (``hard=False``) or harder: logits
    scaled by 0.3 from fresh samples, shifted features and brighter, noisier images."""
    rng = np.random.default_rng(seed)
    logits, labels = calibrated_logits(n, rng)
    features = rng.standard_normal((n, 8))
    images = rng.uniform(0.0, 0.5, (n, 1, 4, 4)).astype(np.float32)
    peer_source = softmax(logits + 0.5 * rng.standard_normal(logits.shape))
    source = source_outputs(logits, labels, features, images)
    if not hard:
        target = target_outputs(logits, features, images)
        peer = PeerOutputs(source_probs=peer_source, target_probs=peer_source)
    else:
        t_logits = 0.3 * calibrated_logits(n, rng)[0]
        t_features = 0.7 + 1.5 * rng.standard_normal((n, 8))
        t_images = np.clip(images + 0.3 + 0.2 * rng.standard_normal(images.shape), 0, 1).astype(np.float32)
        target = target_outputs(t_logits, t_features, t_images)
        peer = PeerOutputs(source_probs=peer_source, target_probs=softmax(t_logits + 0.5 * rng.standard_normal((n, C))))
    return BenefitInputs(
        task_type="classification",
        num_classes=C,
        source=source,
        target=target,
        metric="accuracy",
        source_score=float(np.mean(logits.argmax(1) == labels)),
        seed=seed,
        peer=peer,
    )


def segmentation(*, hard: bool, n: int = 3, size: int = 12, seed: int = 0) -> BenefitInputs:
    """Two-class masks ``[n, size, size]`` with calibrated per-pixel logits ``[n, 2, size, size]``; the harder target
    has logits scaled by 0.3 and shifted features and images."""
    rng = np.random.default_rng(seed)
    margin = 3.0 * rng.standard_normal((n, size, size))
    logits = np.stack([-margin / 2, margin / 2], axis=1)
    labels = (rng.uniform(size=margin.shape) < softmax(logits)[:, 1]).astype(np.int64)
    features = rng.standard_normal((n, 4))
    images = rng.uniform(0.0, 0.5, (n, 1, size, size)).astype(np.float32)
    source = source_outputs(logits, labels, features, images)
    if hard:
        target = target_outputs(0.3 * logits[::-1].copy(), features + 2.0, np.clip(images + 0.4, 0, 1))
    else:
        target = target_outputs(logits, features, images)
    return BenefitInputs(
        task_type="segmentation",
        num_classes=2,
        source=source,
        target=target,
        metric="dice",
        source_score=0.5,
        seed=seed,
    )


SPECS = {spec.name: spec for spec in BENEFIT_PREDICTORS}
ACCURACY_ESTIMATORS = ("average_confidence", "atc_mc", "atc_ne", "doc", "cot", "agreement")
LATENT = ("latent_bhattacharyya", "latent_w2_gaussian", "latent_sliced_w2", "latent_mmd")
SHIFTS = (*LATENT, "pixel_mean_diff", "pixel_std_diff", "entropy_gap", "nuclear_norm", "mano", "degradation")


def run(name: str, inputs: BenefitInputs) -> BenefitOutput:
    return SPECS[name].fn(inputs)


def source_accuracy(inputs: BenefitInputs) -> float:
    return float(np.mean(inputs.source.probs.argmax(axis=1) == inputs.source.labels))


def test_the_hook_returns_every_builtin_with_its_paper_and_units() -> None:
    assert tuple(register_benefit_predictors()) == BENEFIT_PREDICTORS
    assert set(SPECS) == {*ACCURACY_ESTIMATORS, *SHIFTS}
    for spec in BENEFIT_PREDICTORS:
        assert spec.paper.title and spec.paper.authors and spec.paper.year >= 2017 and spec.paper.venue, spec.name
        assert spec.description, spec.name
        assert spec.estimates == ("accuracy" if spec.name in ACCURACY_ESTIMATORS else ""), spec.name
        assert spec.benefit_map == ("gaussian" if spec.name == "degradation" else "linear"), spec.name
        assert spec.needs_features == (spec.name in LATENT), spec.name
        assert spec.needs_peer == (spec.name == "agreement"), spec.name
    classification_only = {n for n, s in SPECS.items() if s.task_types == ("classification",)}
    assert classification_only == {"cot", "agreement", "nuclear_norm", "mano"}


@pytest.mark.parametrize("k", [0.5, 2.5])
def test_temperature_scaling_recovers_a_known_temperature(k: float) -> None:
    logits, labels = calibrated_logits(4000, np.random.default_rng(1))
    assert abs(_common.fit_temperature(logits * k, labels) - k) < 0.1 * k


def test_identical_source_and_target_give_the_source_accuracy_and_no_shift() -> None:
    inputs = classification(hard=False)
    acc = source_accuracy(inputs)
    assert 0.6 < acc < 0.95  # errors to threshold on, and room below
    for name in ("atc_mc", "atc_ne"):
        assert abs(run(name, inputs).target_score - acc) < 0.02, name  # type: ignore[operator]
    assert run("doc", inputs).target_score == pytest.approx(acc, abs=1e-12)
    assert run("agreement", inputs).target_score == pytest.approx(acc, abs=1e-9)
    assert abs(run("average_confidence", inputs).target_score - acc) < 0.03  # type: ignore[operator]
    for name in SHIFTS:
        assert abs(run(name, inputs).shift_score) < 0.01, name  # type: ignore[arg-type]


def test_a_harder_target_lowers_the_estimates_and_raises_the_shift_scores() -> None:
    same, hard = classification(hard=False), classification(hard=True)
    for name in ("average_confidence", "atc_mc", "atc_ne", "doc", "agreement"):
        easy_score, hard_score = run(name, same).target_score, run(name, hard).target_score
        assert hard_score is not None and easy_score is not None
        assert hard_score < easy_score - 0.1, name
    for name in SHIFTS:
        easy_shift, hard_shift = run(name, same).shift_score, run(name, hard).shift_score
        assert hard_shift is not None and easy_shift is not None
        assert hard_shift > easy_shift + 1e-3, name
    assert run("nuclear_norm", hard).shift_score > 0.05  # type: ignore[operator]
    assert run("mano", hard).shift_score > 0.05  # type: ignore[operator]


def test_atc_threshold_puts_the_source_error_below_it() -> None:
    inputs = classification(hard=True)
    view = _common.calibrated(inputs)
    error = 1.0 - view.source_accuracy
    for score in ("mc", "ne"):
        s = atc_scores(view.source_probs, score)  # type: ignore[arg-type]
        t = atc_threshold(s, view.source_correct)
        assert np.mean(s < t) == pytest.approx(error, abs=1e-12), score
    assert atc_threshold(np.array([0.2, 0.9]), np.array([True, True])) == -math.inf
    assert atc_threshold(np.array([0.2, 0.9]), np.array([False, False])) == math.inf
    assert atc_threshold(np.array([0.9, 0.2, 0.5]), np.array([True, False, True])) == pytest.approx(0.35)


def test_cot_costs_nothing_for_a_confident_target_with_the_source_label_distribution() -> None:
    inputs = classification(hard=False)
    predicted = np.random.default_rng(5).permutation(inputs.source.labels)
    logits = 50.0 * np.eye(C)[predicted]
    confident = replace(inputs, target=target_outputs(logits, None, inputs.target.images))
    assert run("cot", confident).target_score == pytest.approx(1.0, abs=1e-6)
    uniform = replace(inputs, target=target_outputs(np.zeros((100, C)), None, inputs.target.images[:100]))
    assert run("cot", uniform).target_score == pytest.approx(1.0 / C, abs=1e-9)
    assert run("cot", classification(hard=True)).target_score < run("cot", inputs).target_score - 0.1  # type: ignore[operator]


def test_cot_error_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert cot_error(probs, np.array([1.0, 1.0])) == pytest.approx(0.5 * 0.1 + 0.5 * 0.2)
    assert cot_error(probs, np.array([1.0, 0.0])) == pytest.approx(0.5 * 0.1 + 0.5 * 0.8)  # all mass to class 0


def test_matrix_norm_scores_at_known_points() -> None:
    n = 40
    balanced_one_hot = np.eye(C)[np.arange(n) % C]
    assert nuclear_norm_score(balanced_one_hot) == pytest.approx(1.0)
    assert nuclear_norm_score(np.full((n, C), 1.0 / C)) == pytest.approx(1.0 / C)
    assert nuclear_norm_score(np.eye(C)[:2]) == pytest.approx(1.0)  # N < C: normalised by sqrt(N * N)
    confident = 40.0 * balanced_one_hot
    assert mano_criterion(confident) > 5.0 > mano_criterion(0.1 * confident)
    assert mano_score(mano_normalise(confident, use_softmax=True)) == pytest.approx((1.0 / C) ** 0.25)
    taylor = mano_normalise(np.array([[2.0, 0.0, -1.0], [1.0, 1.0, 1.0]]), use_softmax=False)
    assert np.allclose(taylor.sum(axis=1), 1.0) and taylor.min() >= 0
    assert np.allclose(taylor[0], np.array([4.5, 0.5, 0.0]) / 5.0)  # 1 + q + q^2/2 = (5, 1, 0.5), minus 0.5
    assert np.allclose(taylor[1], 1.0 / 3)  # a constant row becomes uniform


def test_segmentation_predictors_read_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    same, hard = segmentation(hard=False), segmentation(hard=True)
    pixel_acc = float(np.mean(same.source.probs.argmax(axis=1) == same.source.labels))
    seg_specs = [s for s in BENEFIT_PREDICTORS if "segmentation" in s.task_types]
    assert len(seg_specs) == 12
    for spec in seg_specs:
        for inputs in (same, hard):
            out = spec.fn(inputs).as_dict()
            assert out and all(math.isfinite(v) for v in out.values()), spec.name
    assert run("atc_mc", same).target_score == pytest.approx(pixel_acc, abs=0.02)
    assert run("atc_mc", hard).target_score < run("atc_mc", same).target_score  # type: ignore[operator]
    monkeypatch.setattr(_common, "MAX_PIXELS", 100)
    sub = segmentation(hard=False, seed=1)
    assert len(_common.calibrated(sub).source_probs) == 100
    assert abs(run("atc_mc", sub).target_score - pixel_acc) < 0.15  # type: ignore[operator]
    for name in ("cot", "agreement", "nuclear_norm", "mano"):
        with pytest.raises(SpecError, match="classification"):
            run(name, same)


def test_pixel_rows_follow_the_channel_layout() -> None:
    values = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    rows = _common.as_rows(values, None)
    assert rows.shape == (8, 3) and np.array_equal(rows[5], values[1, :, 0, 1])
    index = np.array([1, 6])
    assert np.array_equal(_common.as_rows(values, index), rows[index])
    labels = np.arange(8).reshape(2, 2, 2)
    assert np.array_equal(_common.label_rows(labels, index), [1, 6])


def test_every_predictor_gives_a_finite_output_and_the_same_one_again() -> None:
    first, second = classification(hard=True, n=300, seed=3), classification(hard=True, n=300, seed=3)
    for spec in BENEFIT_PREDICTORS:
        a, b = spec.fn(first), spec.fn(second)
        assert a.as_dict() and all(math.isfinite(v) for v in a.as_dict().values()), spec.name
        assert a == b, spec.name
    reseeded = replace(first, seed=4)  # the same data, other random directions
    assert run("latent_sliced_w2", reseeded) != run("latent_sliced_w2", first)


def test_the_memo_serves_one_domain_and_not_the_next() -> None:
    inputs = classification(hard=True, n=300)
    assert _common.calibrated(inputs) is _common.calibrated(inputs)
    other = replace(inputs, target=target_outputs(inputs.target.logits.copy(), None, inputs.target.images))
    assert _common.calibrated(other) is not _common.calibrated(inputs)
    assert _common.calibrated(replace(inputs, seed=9)) is not _common.calibrated(inputs)


def test_unusable_inputs_raise_spec_errors() -> None:
    inputs = classification(hard=False, n=50)
    with pytest.raises(SpecError, match="peer"):
        run("agreement", replace(inputs, peer=None))
    bad_labels = replace(inputs, source=replace(inputs.source, labels=inputs.source.labels[:10]))
    with pytest.raises(SpecError, match="labels"):
        run("atc_mc", bad_labels)
    out_of_range = replace(inputs, source=replace(inputs.source, labels=inputs.source.labels + C))
    with pytest.raises(SpecError, match="labels"):
        run("doc", out_of_range)
    fewer_classes = replace(inputs, target=target_outputs(inputs.target.logits[:, :3], None, inputs.target.images))
    with pytest.raises(SpecError, match="same classes"):
        run("mano", fewer_classes)
    no_features = replace(inputs, target=replace(inputs.target, features=None))
    with pytest.raises(SpecError, match="latent features"):
        run("latent_mmd", no_features)
    flat = replace(inputs, task_type="segmentation")
    with pytest.raises(SpecError, match=r"\[N, C, H, W\]"):
        run("average_confidence", flat)
    peerless = PeerOutputs(source_probs=inputs.source.probs[:, :3], target_probs=inputs.target.probs[:, :3])
    with pytest.raises(SpecError, match="same shape"):
        run("agreement", replace(inputs, peer=peerless))
    assert isinstance(inputs.source, SourceOutputs) and isinstance(inputs.target, TargetOutputs)
