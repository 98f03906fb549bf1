"""Unsupervised validators against direct formulas, and the collapse guard."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import entropy

from dabench.builtins import validators as v


def test_entropy_matches_scipy_and_direction() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(4), 50)
    assert v.prediction_entropy(p) == pytest.approx(np.mean(entropy(p, axis=1)))
    assert v.prediction_entropy(np.eye(4)[[0, 1, 2, 3]]) == pytest.approx(0.0, abs=1e-9)
    spec = {s.name: s for s in v.VALIDATORS}["entropy"]
    assert spec.higher_is_better is False


def _snd_loop(f: np.ndarray, tau: float) -> float:
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(f)):
        sims = np.array([f[i] @ f[j] for j in range(len(f)) if j != i]) / tau
        total += entropy(softmax(sims))
    return total / len(f)


@pytest.mark.parametrize("tau", [0.005, 0.05, 1.0])
def test_snd_matches_direct_formula(tau: float) -> None:
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(30, 6))
    probs = rng.dirichlet(np.ones(3), 30)
    assert v.soft_neighbourhood_density(probs, feats, temperature=tau) == pytest.approx(_snd_loop(feats, tau))
    assert v.soft_neighbourhood_density(probs, None, temperature=tau) == pytest.approx(_snd_loop(probs, tau))


def test_snd_default_temperature_and_spec() -> None:
    spec = {s.name: s for s in v.VALIDATORS}["snd"]
    assert spec.needs_features and spec.higher_is_better and v.SND_TEMPERATURE == 0.005
    feats = np.random.default_rng(2).normal(size=(20, 4))
    assert spec.fn(np.full((20, 2), 0.5), feats) == pytest.approx(_snd_loop(feats, 0.005))


def test_info_max() -> None:
    p = np.random.default_rng(3).dirichlet(np.ones(5), 40)
    expected = entropy(p.mean(0)) - np.mean(entropy(p, axis=1))
    assert v.information_maximisation(p) == pytest.approx(expected)
    assert v.information_maximisation(np.eye(3)[[0, 1, 2] * 4]) == pytest.approx(np.log(3))
    assert v.information_maximisation(np.eye(3)[[1] * 12]) == pytest.approx(0.0, abs=1e-9)


def test_collapse_guard() -> None:
    collapsed = np.tile([0.1, 0.8, 0.1], (100, 1))
    collapsed[:3] = [0.9, 0.05, 0.05]
    assert v.is_collapsed(collapsed)  # 97 % in one class
    assert not v.is_collapsed(collapsed, max_share=0.98)
    balanced = np.eye(3)[np.arange(99) % 3]
    assert not v.is_collapsed(balanced)
    assert v.prediction_balance(balanced) == pytest.approx(1.0)
    assert v.prediction_balance(np.eye(3)[[2] * 10]) == pytest.approx(0.0)
    # the failure mode: entropy prefers the collapsed model, the guard catches it
    assert v.prediction_entropy(np.eye(3)[[2] * 10]) < v.prediction_entropy(balanced * 0.9 + 0.1 / 3)


def test_validator_names() -> None:
    assert [s.name for s in v.VALIDATORS] == ["entropy", "snd", "info_max", "collapse"]
