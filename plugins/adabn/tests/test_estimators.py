"""The two BatchNorm estimators: ``exact`` gives the numbers of a plain full-pass implementation while running only
up to each layer; ``running`` is the train-mode cumulative average and restores modes and momenta."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from dabench.errors import SpecError
from dabench.nn.unet import UNet
from dabench_adabn import DEFAULTS, build
from dabench_adabn.estimators import adapt_batchnorm, bn_layers
from dabench_adabn.method import bn_statistics

CPU = torch.device("cpu")


@torch.no_grad()
def reference_exact(model: nn.Module, images: torch.Tensor, batch_size: int) -> None:
    """The straightforward exact estimator (AdaBN as first implemented here): for each BN layer in module order, full
    eval-mode passes over the target, summing its inputs in float64."""
    model.eval()
    for layer in [m for m in model.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]:
        sums: dict[str, Any] = {"n": 0, "s": 0, "ss": 0}

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], sums: dict[str, Any] = sums) -> None:
            x = inputs[0].double()
            dims = [0, *range(2, x.ndim)]
            sums["n"] += x.numel() // x.shape[1]
            sums["s"] = sums["s"] + x.sum(dims)
            sums["ss"] = sums["ss"] + (x * x).sum(dims)

        handle = layer.register_forward_pre_hook(hook)
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size])
        handle.remove()
        n = sums["n"]
        mean = sums["s"] / n
        var = (sums["ss"] / n - mean * mean).clamp_min(0) * (n / (n - 1))
        layer.running_mean.copy_(mean.float())
        layer.running_var.copy_(var.float())


class SharedBN(nn.Module):
    """A net that calls one BN layer twice per forward (the early stop must wait for the second call)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn, self.head = nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.bn(self.bn(self.conv(x)) * 2 + 1))
        return out


def _nets() -> list[nn.Module]:
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 196, 6), nn.BatchNorm1d(6)
    )
    return [UNet(1, 2, width=3, depth=2), mlp, SharedBN()]


@pytest.mark.parametrize("early_stop", [True, False])
def test_exact_gives_the_full_pass_reference_numbers(early_stop: bool) -> None:
    images = torch.rand(37, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 + 0.5
    for net in _nets():
        expected = _copy(net)
        reference_exact(expected, images, 10)
        n = adapt_batchnorm(net, images, 10, CPU, early_stop=early_stop)
        assert n == len(bn_layers(net))
        got, want = bn_statistics(net), bn_statistics(expected)
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), (type(net).__name__, key)


def test_early_stop_runs_only_up_to_each_layer() -> None:
    net = UNet(1, 2, width=2, depth=2)
    images = torch.rand(12, 1, 16, 16)
    calls = {"full": 0, "early": 0}
    mode = ["full"]
    net.head.register_forward_hook(lambda *_: calls.__setitem__(mode[0], calls[mode[0]] + 1))
    adapt_batchnorm(_copy(net), images, 4, CPU, early_stop=False)
    mode[0] = "early"
    adapt_batchnorm(_copy(net), images, 4, CPU)
    assert calls["full"] == len(bn_layers(net)) * 3  # every layer: 3 full passes, each reaching the head
    assert calls["early"] == 1  # only the one-image probe reaches the head
    mode[0] = "running"
    calls["running"] = 0
    adapt_batchnorm(net, images, 4, CPU, estimator="running")
    assert calls["running"] == 1  # the pass ends after the last BN layer: only the probe reaches the head


def test_running_on_one_batch_matches_exact_first_layer_and_restores_modes() -> None:
    net = UNet(1, 2, width=3, depth=2)
    images = torch.rand(9, 1, 16, 16) * 3
    exact = _copy(net)
    adapt_batchnorm(exact, images, 64, CPU)
    net.train()
    layers = bn_layers(net)
    layers[1].momentum = 0.3
    assert adapt_batchnorm(net, images, 64, CPU, estimator="running") == len(layers)
    first, first_exact = layers[0], bn_layers(exact)[0]
    assert torch.allclose(first.running_mean, first_exact.running_mean, atol=1e-6)
    assert torch.allclose(first.running_var, first_exact.running_var, rtol=1e-5)
    assert all(m.training for m in net.modules())  # the caller's modes are back
    assert [layer.momentum for layer in layers[:3]] == [0.1, 0.3, 0.1]
    for p in net.parameters():
        assert p.grad is None


def test_running_averages_batches_and_keeps_a_lone_last_image() -> None:
    net = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4))
    images = torch.arange(5 * 4, dtype=torch.float32).view(5, 1, 2, 2)
    adapt_batchnorm(net, images, 2, CPU, estimator="running")  # batches [0,1], [2,3,4]: the last image joins
    flat = images.flatten(1)
    mean = (flat[:2].mean(0) + flat[2:].mean(0)) / 2
    var = (flat[:2].var(0) + flat[2:].var(0)) / 2
    assert torch.allclose(net[1].running_mean, mean) and torch.allclose(net[1].running_var, var)


def test_bad_estimator_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="estimator='median' is not valid: use one of exact, running"):
        build({**DEFAULTS, "estimator": "median"})
    with pytest.raises(SpecError, match="use one of exact, running"):
        adapt_batchnorm(nn.BatchNorm1d(2), torch.rand(4, 2), 2, CPU, estimator="mean")
    old = {k: v for k, v in DEFAULTS.items() if k != "estimator"}  # a record made before the parameter existed
    assert build(old).estimator == "exact"  # type: ignore[attr-defined]


def _copy(net: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(net)


def test_a_layer_off_the_forward_path_keeps_its_statistics() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn, self.unused = nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.BatchNorm2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.bn(self.conv(x))  # ``unused`` is registered but never called
            return out

    net = Net()
    net.unused.running_mean.fill_(0.5)
    images = torch.rand(6, 1, 8, 8)
    for estimator in ("exact", "running"):
        for early_stop in (True, False):
            assert adapt_batchnorm(net, images, 4, CPU, estimator=estimator, early_stop=early_stop) == 1
            assert torch.equal(net.unused.running_mean, torch.full((2,), 0.5))
