"""The ``majority_class`` baseline: the most frequent source class with the source frequencies as probabilities,
nothing trained, the contract kit passed, and its row on a leaderboard."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from dabench import testing
from dabench.builtins.methods import MAJORITY_BASELINE, ClassPrior
from dabench.data import AdaptationTask, LabeledSplit, UnlabeledSplit
from dabench.report import leaderboard
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench.seeding import Seeds

CPU = torch.device("cpu")


def _task(labels: list[int], num_classes: int, n_target: int = 7) -> AdaptationTask:
    g = torch.Generator().manual_seed(0)
    images = torch.rand((len(labels), 1, 4, 4), generator=g)
    return AdaptationTask(
        source=LabeledSplit(images=images, labels=torch.tensor(labels, dtype=torch.int64)),
        unlabeled={"target": UnlabeledSplit(images=torch.rand((n_target, 1, 4, 4), generator=g))},
        num_classes=num_classes,
        input_shape=(1, 4, 4),
    )


def _fit(registry, task: AdaptationTask, seed: int = 0) -> ClassPrior:  # type: ignore[no-untyped-def]
    predictor = registry.methods.get("majority_class").build({}).fit(task, seeds=Seeds(seed), device=CPU)
    assert isinstance(predictor, ClassPrior)
    return predictor


def test_predicts_the_most_frequent_source_class_with_its_frequencies(registry) -> None:  # type: ignore[no-untyped-def]
    task = _task([2, 2, 2, 0, 1, 2, 0, 2], num_classes=4)  # class 3 never occurs in the source
    predictor = _fit(registry, task)
    logits = predictor.predict(task.unlabeled["target"].images)
    assert logits.shape == (7, 4) and logits.dtype == torch.float32 and bool(torch.isfinite(logits).all())
    probs = torch.softmax(logits.double(), dim=1)
    assert torch.allclose(probs, torch.tensor([[2 / 8, 1 / 8, 5 / 8, 0.0]], dtype=torch.float64).expand(7, 4))
    assert predictor.majority == 2 and set(logits.argmax(1).tolist()) == {2}
    other_input = torch.ones((3, 1, 4, 4))
    assert torch.equal(predictor.predict(other_input), logits[:3])  # the input is never looked at


def test_ties_go_to_the_lowest_class_and_seeds_do_not_matter(registry) -> None:  # type: ignore[no-untyped-def]
    task = _task([1, 0, 1, 0, 2], num_classes=3)
    a, b = _fit(registry, task, seed=0), _fit(registry, task, seed=99)
    assert a.majority == 0 and torch.equal(a.logits, b.logits)
    x = task.unlabeled["target"].images
    assert set(torch.softmax(a.predict(x).double(), 1).numpy().argmax(1).tolist()) == {0}


def test_auc_is_one_half_and_accuracy_is_the_majority_share(registry) -> None:  # type: ignore[no-untyped-def]
    predictor = _fit(registry, _task([0, 1, 1, 1, 2, 1], num_classes=3))
    y_true = np.array([1, 1, 1, 0, 2, 2, 0, 1, 1, 2])
    probs = torch.softmax(predictor.predict(torch.zeros((10, 1, 4, 4))).double(), 1).numpy()
    assert registry.metrics.get("auc").fn(y_true, probs) == pytest.approx(0.5)
    assert registry.metrics.get("accuracy").fn(y_true, probs) == pytest.approx(0.5)  # five of ten are class 1
    assert registry.metrics.get("balanced_accuracy").fn(y_true, probs) == pytest.approx(1 / 3)


def test_trains_nothing(registry) -> None:  # type: ignore[no-untyped-def]
    task = _task([i % 5 for i in range(20_000)], num_classes=5)
    started = time.perf_counter()
    predictor = _fit(registry, task)
    assert time.perf_counter() - started < 0.5  # counting labels (microseconds); even one epoch would not fit
    assert predictor.majority == 0 and registry.methods.get("majority_class").defaults == {}


def test_segmentation_gets_the_pixel_majority(registry) -> None:  # type: ignore[no-untyped-def]
    masks = torch.zeros((4, 4, 4), dtype=torch.int64)
    masks[0, :2] = 1  # 8 of 64 pixels are foreground
    task = AdaptationTask(
        source=LabeledSplit(images=torch.rand((4, 1, 4, 4)), labels=masks),
        unlabeled={"target": UnlabeledSplit(images=torch.rand((3, 1, 4, 4)))},
        num_classes=2,
        input_shape=(1, 4, 4),
        task_type="segmentation",
    )
    logits = _fit(registry, task).predict(task.unlabeled["target"].images)
    assert logits.shape == (3, 2, 4, 4)
    assert torch.allclose(torch.softmax(logits.double(), 1)[:, 1], torch.full((3, 4, 4), 8 / 64, dtype=torch.float64))


def test_contract_kit_and_citation(registry) -> None:  # type: ignore[no-untyped-def]
    spec = registry.methods.get("majority_class")
    testing.check_method(spec)
    assert spec.paper is MAJORITY_BASELINE and spec.paper.short() == "Ian H. Witten et al. (2016)"
    assert registry.methods.providers["majority_class"] == "core"


def test_a_run_and_its_leaderboard_row(registry) -> None:  # type: ignore[no-untyped-def]
    spec = resolve(
        RunRequest(
            method="majority_class", dataset="synthetic", metrics=("macro_f1", "accuracy", "auc"), n_bootstrap=20
        ),
        registry,
    )
    result = run(spec, registry)
    record = result.to_record()
    assert record["status"] == "ok" and record["timings"]["fit_s"] < 0.5
    assert record["metrics"]["target"]["auc"]["value"] == pytest.approx(0.5)
    assert record["validators"]["target"]["collapsed"] == 1.0  # a constant predictor is collapsed by definition
    text = leaderboard.render(
        [record],
        directions={"macro_f1": True, "accuracy": True, "auc": True},
        citations={"majority_class": MAJORITY_BASELINE.short()},
        command="dabench leaderboard --store s",
    )
    header = next(line for line in text.splitlines() if line.startswith("| rank"))
    assert "target macro_f1 (ranked)" in header
    row = next(line for line in text.splitlines() if line.startswith("| 1 ") and "majority_class" in line)
    assert "Ian H. Witten et al. (2016)" in row and "1 ⚠" in row
