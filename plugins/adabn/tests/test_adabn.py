"""AdaBN: after adaptation every BN layer holds the target's exact statistics; it fixes a pure intensity shift."""

from __future__ import annotations

import torch
from torch import nn

from dabench import AdaptationTask, LabeledSplit, Seeds, UnlabeledSplit, testing
from dabench_adabn import DEFAULTS, register_methods
from dabench_adabn.method import AdaBN, adapt_batchnorm


def test_running_stats_equal_target_population_stats() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 5), nn.BatchNorm1d(5)
    )
    images = torch.rand(50, 1, 8, 8) * 3 + 1
    assert adapt_batchnorm(model, images, batch_size=7, device=torch.device("cpu")) == 2
    with torch.no_grad():
        conv_out = model[0](images)
        mean = conv_out.mean((0, 2, 3))
        var = conv_out.var((0, 2, 3), unbiased=True)
        assert torch.allclose(model[1].running_mean, mean, atol=1e-5)
        assert torch.allclose(model[1].running_var, var, rtol=1e-4)
        hidden = model[4](model[3](model[2](model[1](conv_out))))  # eval mode: uses the adapted first layer
        assert torch.allclose(model[5].running_mean, hidden.mean(0), atol=1e-5)


def test_adabn_recovers_an_intensity_shift() -> None:
    task = testing.toy_task(n=192)
    shifted = AdaptationTask(
        source=task.source,
        unlabeled={"target": UnlabeledSplit(images=task.unlabeled["target"].images * 0.5 + 0.3)},
        num_classes=task.num_classes,
        input_shape=task.input_shape,
    )
    target_labels = task.source.labels  # toy_task draws target labels in the same order as the source's
    params = {**DEFAULTS, "epochs": 3, "width": 8, "hidden": 16}
    predictor = AdaBN(params).fit(shifted, seeds=Seeds(0), device=torch.device("cpu"))
    adapted = (predictor.predict(shifted.unlabeled["target"].images).argmax(1) == target_labels).float().mean()
    from dabench.nn.training import SupervisedTraining

    plain = SupervisedTraining(params).fit(shifted, seeds=Seeds(0), device=torch.device("cpu"))
    baseline = (plain.predict(shifted.unlabeled["target"].images).argmax(1) == target_labels).float().mean()
    assert adapted > baseline + 0.1, (float(adapted), float(baseline))


def test_registered_and_contract() -> None:
    spec = next(iter(register_methods()))
    assert spec.name == "adabn" and "Batch Normalization" in spec.paper.title
    testing.check_method(spec)


def test_missing_adapt_domain_is_explained() -> None:
    task = testing.toy_task()
    odd = AdaptationTask(
        source=task.source, unlabeled={"other": task.unlabeled["target"]}, num_classes=3, input_shape=task.input_shape
    )
    import pytest

    with pytest.raises(ValueError, match="adapts to domain 'target'"):
        AdaBN({**DEFAULTS, **testing.FAST_PARAMS}).fit(odd, seeds=Seeds(0), device=torch.device("cpu"))


def test_labeled_split_subset_helper() -> None:
    split = LabeledSplit(images=torch.zeros(4, 1, 2, 2), labels=torch.arange(4))
    assert split.subset(torch.tensor([2, 0])).labels.tolist() == [2, 0]
