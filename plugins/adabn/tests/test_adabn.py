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
    assert model.training  # the caller's mode is restored
    model.eval()
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


# -------------------------------------------------- per-domain statistics at evaluation (issue 9, item 8)

FAST = {**DEFAULTS, "epochs": 2, "batch_size": 32, "width": 8, "hidden": 16}


def _bn_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}


def _equal_stats(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = _bn_stats(a), _bn_stats(b)
    return sa.keys() == sb.keys() and len(sa) > 0 and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_each_domain_gets_its_own_statistics() -> None:
    import copy

    from dabench.nn.training import SupervisedTraining

    task = testing.toy_task(n=96)
    cpu = torch.device("cpu")
    predictor = AdaBN(FAST).fit(task, seeds=Seeds(1), device=cpu)
    plain = SupervisedTraining(FAST).fit(task, seeds=Seeds(1), device=cpu)
    unseen = torch.rand(40, *task.input_shape, generator=torch.Generator().manual_seed(5)) * 0.6

    source = predictor.for_domain("source", unseen)
    assert _equal_stats(source.model, plain.model)  # the source statistics: exactly source_only's model
    assert torch.equal(source.predict(task.source.images), plain.predict(task.source.images))

    expected = copy.deepcopy(plain.model)
    adapt_batchnorm(expected, task.unlabeled["target"].images, 7, cpu)
    target = predictor.for_domain("target", unseen)  # the unlabelled target it adapted on, not these images
    assert _equal_stats(target.model, predictor.model)
    for key, value in _bn_stats(expected).items():
        assert torch.allclose(_bn_stats(target.model)[key], value, rtol=1e-5, atol=1e-6), key
    assert not _equal_stats(target.model, plain.model)

    grid = predictor.for_domain("test@0.5", unseen)  # a domain it saw no data of: its own test images
    mean = grid.model.features[0](unseen).mean((0, 2, 3))
    assert torch.allclose(grid.model.features[1].running_mean, mean, atol=1e-5)
    assert _equal_stats(predictor.model, target.model)  # for_domain leaves the fitted predictor as it was


def test_runner_scores_source_like_source_only_and_target_with_target_statistics() -> None:
    """Through the runner (``uda``): AdaBN's source-domain numbers are source_only's (same seed) — it is no longer
    scored on the source test set with the target's statistics — while its target numbers differ."""
    from dabench.registry import build_registry
    from dabench.run.resolve import RunRequest, resolve
    from dabench.run.runner import run

    registry = build_registry()
    fast = {k: v for k, v in FAST.items() if k in ("epochs", "batch_size", "width", "hidden")}

    def scores(method: str) -> dict[str, float]:
        spec = resolve(
            RunRequest(method=method, dataset="synthetic", shift="noise:0.6", params=fast, n_bootstrap=0), registry
        )
        result = run(spec, registry)
        return {d: m["accuracy"].value for d, m in result.metrics.items()}

    adabn, plain = scores("adabn"), scores("source_only")
    assert adabn["source"] == plain["source"]
    assert adabn["target"] != plain["target"]
