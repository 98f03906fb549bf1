"""Per-domain statistics: a test domain with unlabelled train data in the task is adapted on that data (lazily, once),
never on its test images; the unadapted source predictor; U-Net segmentation end to end through the CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from dabench import AdaptationTask, Seeds, UnlabeledSplit, testing
from dabench.nn.training import SupervisedTraining
from dabench_adabn import DEFAULTS
from dabench_adabn.estimators import adapt_batchnorm, bn_layers
from dabench_adabn.method import AdaBN, bn_statistics

CPU = torch.device("cpu")
FAST = {**DEFAULTS, "epochs": 1, "batch_size": 32, "width": 4, "depth": 2, "adapt_batch_size": 16}


def _multi_target_task() -> AdaptationTask:
    """A segmentation task with unlabelled train sets for two extra target domains, darker and brighter."""
    task = testing.toy_task(n=32, task_type="segmentation", shape=(1, 16, 16))
    base = task.unlabeled["target"].images
    unlabeled = {
        "target": task.unlabeled["target"],
        "dark": UnlabeledSplit(images=base * 0.4),
        "bright": UnlabeledSplit(images=(base * 0.5 + 0.5).clamp(0, 1)),
    }
    return AdaptationTask(
        source=task.source,
        unlabeled=unlabeled,
        num_classes=task.num_classes,
        input_shape=task.input_shape,
        task_type="segmentation",
    )


@pytest.mark.parametrize("estimator", ["exact", "running"])
def test_each_target_domain_adapts_on_its_own_unlabelled_train_images(estimator: str) -> None:
    task = _multi_target_task()
    params = {**FAST, "estimator": estimator}
    predictor = AdaBN(params).fit(task, seeds=Seeds(0), device=CPU)
    plain = SupervisedTraining(params).fit(task, seeds=Seeds(0), device=CPU).model
    assert set(predictor.adapted) == {"target"}  # the others are adapted only when asked for
    test_images = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(3)) * 0.1  # unlike both: unused
    means = {}
    for name in ("dark", "bright"):
        got = predictor.for_domain(name, test_images).model
        expected = copy.deepcopy(plain)
        adapt_batchnorm(expected, task.unlabeled[name].images, 16, CPU, estimator=estimator)
        want = bn_statistics(expected)
        for key, value in bn_statistics(got).items():
            assert torch.allclose(value, want[key], rtol=1e-5, atol=1e-6), (name, key)
        means[name] = bn_layers(got)[0].running_mean
        assert name in predictor.adapted  # cached
    assert float(means["bright"].mean()) != pytest.approx(float(means["dark"].mean()), abs=1e-3)
    transductive = bn_layers(predictor.for_domain("test@0.5", test_images).model)[0].running_mean
    conv = plain.encoder[0][0]
    with torch.no_grad():
        assert torch.allclose(transductive, conv(test_images).mean((0, 2, 3)), atol=1e-6)
    assert "test@0.5" not in predictor.adapted


def test_cached_domain_is_not_re_estimated(monkeypatch: pytest.MonkeyPatch) -> None:
    import dabench_adabn.method as method

    task = _multi_target_task()
    predictor = AdaBN(FAST).fit(task, seeds=Seeds(0), device=CPU)
    first = predictor.for_domain("dark", torch.zeros(2, 1, 16, 16)).predict(task.source.images)
    monkeypatch.setattr(method, "adapt_batchnorm", lambda *a, **k: pytest.fail("re-estimated a cached domain"))
    again = predictor.for_domain("dark", torch.ones(2, 1, 16, 16)).predict(task.source.images)
    assert torch.equal(first, again)
    predictor.for_domain("target", torch.ones(2, 1, 16, 16))  # adapted in fit


def test_source_predictor_is_the_unadapted_model() -> None:
    task = _multi_target_task()
    predictor = AdaBN(FAST).fit(task, seeds=Seeds(0), device=CPU)
    plain = SupervisedTraining(FAST).fit(task, seeds=Seeds(0), device=CPU)
    images = task.unlabeled["bright"].images
    source = predictor.source_predictor().predict(images)
    assert torch.equal(source, plain.predict(images))
    assert torch.equal(source, predictor.for_domain("source", images).predict(images))
    assert not torch.equal(source, predictor.predict(images))


def _run(tmp_path: Path, *extra: str) -> int:
    from dabench.cli import main

    return main(
        [
            "run", "--method", "adabn", "--dataset", "perlin:size=32,n_train=64,n_test=16",
            "--shift", "brightness:0.3", "--set", "epochs=1", "--set", "width=4", "--set", "depth=2",
            "--n-bootstrap", "0", "--quiet", "--store", str(tmp_path / "store"), *extra,
        ]
    )  # fmt: skip


@pytest.mark.parametrize("estimator", ["exact", "running"])
def test_unet_segmentation_end_to_end(tmp_path: Path, estimator: str) -> None:
    from dabench.run.store import ResultStore

    assert _run(tmp_path, "--set", f"estimator={estimator}") == 0
    (record,) = list(ResultStore(tmp_path / "store").records())
    assert record["status"] == "ok"
    assert record["spec"]["params"]["estimator"] == estimator and record["spec"]["params"]["depth"] == 2
    for domain in ("source", "target"):
        assert 0.0 <= record["metrics"][domain]["dice"]["value"] <= 1.0


def test_bad_estimator_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, "--set", "estimator=median") == 2
    err = capsys.readouterr().err
    assert "estimator='median' is not valid" in err and "exact, running" in err
