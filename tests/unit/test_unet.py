"""The U-Net (dabench.nn.unet): channel progression, BatchNorm placement, padding/cropping, the pre-ReLU bottleneck
latent, seeded initialisation, and how ModelPredictor / SupervisedTraining use it."""

from __future__ import annotations

import math
from typing import TypeVar

import pytest
import torch
from torch import nn
from torch.nn import functional

from dabench import AdaptationTask, LabeledSplit, Seeds, UnlabeledSplit
from dabench.errors import SpecError
from dabench.nn.features import extract_features
from dabench.nn.hyperparams import SEGMENTATION_DEFAULTS, SEGMENTATION_RANGES, TRAINING_DEFAULTS, TRAINING_RANGES
from dabench.nn.models import FeatureClassifier, init_parameters
from dabench.nn.training import ModelPredictor, SupervisedTraining, build_model
from dabench.nn.unet import UNet, unet_for

CPU = torch.device("cpu")
M = TypeVar("M", bound=nn.Module)


def _of(kind: type[M], module: nn.Module) -> list[M]:
    """The sub-modules of ``module`` of type ``kind``, in registration order."""
    return [m for m in module.modules() if isinstance(m, kind)]


def _task(n: int = 32, size: int = 16, task_type: str = "segmentation") -> AdaptationTask:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, size, size, generator=g)
    labels = (images[:, 0] > 0.5).long() if task_type == "segmentation" else torch.randint(0, 2, (n,), generator=g)
    return AdaptationTask(
        source=LabeledSplit(images=images, labels=labels),
        unlabeled={"target": UnlabeledSplit(images=images)},
        num_classes=2,
        input_shape=(1, size, size),
        task_type=task_type,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("width", "depth"), [(8, 3), (64, 4)])
def test_channel_progression_and_batchnorm_after_every_3x3_conv(width: int, depth: int) -> None:
    model = UNet(3, 5, width=width, depth=depth)
    expected = [width * 2**k for k in range(depth + 1)]
    assert model.channels == expected
    assert [_of(nn.Conv2d, block)[-1].out_channels for block in model.encoder] == expected[:-1]
    assert [conv.out_channels for conv in _of(nn.Conv2d, model.bottleneck)] == [expected[-1]] * 2
    assert [up.out_channels for up in _of(nn.ConvTranspose2d, model.up)] == expected[-2::-1]
    decoder_inputs = [_of(nn.Conv2d, block)[0].in_channels for block in model.decoder]
    assert decoder_inputs == expected[:0:-1]  # the skip concat doubles the up-convolution's channels
    assert model.head.in_channels == width and model.head.out_channels == 5
    if width == 64:
        assert expected[-1] == 1024  # the paper's 64…1024
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 2 * (2 * depth + 1)
    for block in [*model.encoder, model.bottleneck, *model.decoder]:
        assert [type(m) for m in block.children()] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2
        conv_out = [conv.out_channels for conv in _of(nn.Conv2d, block)]
        assert [bn.num_features for bn in _of(nn.BatchNorm2d, block)] == conv_out


@pytest.mark.parametrize("hw", [(16, 16), (13, 21), (5, 3)])
def test_logits_have_the_input_size_and_odd_sizes_are_padded_then_cropped(hw: tuple[int, int]) -> None:
    model = UNet(1, 3, width=4, depth=3).eval()
    x = torch.rand(2, 1, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 3, *hw)
        padded = functional.pad(x, (0, -hw[1] % 8, 0, -hw[0] % 8), mode="replicate")
        torch.testing.assert_close(out, model(padded)[..., : hw[0], : hw[1]])


def test_bottleneck_latent_is_the_pre_relu_output_averaged_over_space() -> None:
    model = unet_for(_task(), {"width": 4, "depth": 2}, Seeds(0)).eval()
    assert model.latent_layer == "bottleneck" and isinstance(model.bottleneck[-1], nn.ReLU)
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        h = x
        for block in model.encoder:
            h = model.pool(block(h))
        expected = model.bottleneck[:5](h).mean(dim=(2, 3))  # conv, BN, ReLU, conv, BN: before the last ReLU
    latent = extract_features(model, x, model.latent_layer, pre_activation=True, reduce="mean", batch_size=4)
    assert latent.shape == (6, 16)
    torch.testing.assert_close(latent, expected)
    assert (latent < 0).any()
    torch.testing.assert_close(ModelPredictor(model, CPU, chunk=5).latent(x), expected)


def test_unet_for_is_seeded_never_global_and_initialises_transposed_convs() -> None:
    task, params = _task(), {"width": 4, "depth": 2}
    state = torch.random.get_rng_state()
    a = unet_for(task, params, Seeds(0))
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is not advanced
    torch.manual_seed(12345)  # nor used
    b, c = unet_for(task, params, Seeds(0)), unet_for(task, params, Seeds(1))
    torch.random.set_rng_state(state)
    same, other = b.state_dict(), c.state_dict()
    for name, value in a.state_dict().items():
        assert torch.equal(value, same[name]), name
        if name.endswith("weight") and "up" in name:
            assert not torch.equal(value, other[name]), name
    up = _of(nn.ConvTranspose2d, a)[0]
    bound = 1 / math.sqrt(up.weight[0].numel())  # PyTorch's fan-in of a transposed conv: out-channels × kernel
    largest = float(up.weight.detach().abs().max())
    assert 0.5 * bound < largest <= bound
    fresh = nn.ConvTranspose2d(4, 2, 2, stride=2)
    before = fresh.weight.clone()
    init_parameters(fresh, torch.Generator().manual_seed(0))
    assert not torch.equal(before, fresh.weight)


def test_predictor_of_a_unet_gives_none_features_and_chunks_by_pixels() -> None:
    model = unet_for(_task(), {"width": 4, "depth": 2}, Seeds(0))
    x = torch.rand(7, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    predictor = ModelPredictor(model, CPU)
    logits, features = predictor.predict_with_features(x)
    assert features is None and logits.shape == (7, 2, 16, 16)
    with pytest.raises(AttributeError):
        predictor.features(x)
    model.max_batch_pixels = 2 * 16 * 16  # type: ignore[misc]  # two images per chunk
    assert predictor._rows(x) == 2
    torch.testing.assert_close(predictor.predict(x), logits)
    torch.testing.assert_close(predictor.latent(x), ModelPredictor(model, CPU, chunk=1).latent(x))


def test_supervised_training_builds_the_network_the_task_type_needs() -> None:
    seg = {**TRAINING_DEFAULTS, **SEGMENTATION_DEFAULTS, "width": 4, "depth": 2, "epochs": 1}
    predictor = SupervisedTraining(seg).fit(_task(), seeds=Seeds(0), device=CPU)
    assert isinstance(predictor.model, UNet) and predictor.model.channels == [4, 8, 16]
    x = _task().source.images[:3]
    assert predictor.predict(x).shape == (3, 2, 16, 16) and predictor.latent(x).shape == (3, 16)
    cls = {**TRAINING_DEFAULTS, "width": 4, "hidden": 8, "epochs": 1}
    classifier = build_model(_task(task_type="classification"), cls, Seeds(0))
    assert isinstance(classifier, FeatureClassifier)
    trained = SupervisedTraining(cls).fit(_task(task_type="classification"), seeds=Seeds(0), device=CPU)
    torch.testing.assert_close(trained.latent(x), trained.features(x))  # the LeNet's latent is its features


def test_segmentation_defaults_and_ranges() -> None:
    assert SEGMENTATION_DEFAULTS["width"] == 64 and SEGMENTATION_DEFAULTS["depth"] == 4
    assert SEGMENTATION_RANGES["depth"].contains(1) and SEGMENTATION_RANGES["depth"].contains(6)
    assert not SEGMENTATION_RANGES["depth"].contains(0) and not SEGMENTATION_RANGES["depth"].contains(7)
    assert {k: v for k, v in SEGMENTATION_RANGES.items() if k != "depth"} == dict(TRAINING_RANGES)
    assert "depth" not in TRAINING_DEFAULTS and "depth" not in TRAINING_RANGES
    with pytest.raises(ValueError, match="depth"):
        UNet(1, 2, width=4, depth=0)
    with pytest.raises(SpecError, match=r"needs the parameters depth.*SEGMENTATION_DEFAULTS"):
        unet_for(_task(), {"width": 4}, Seeds(0))
