"""The networks of ``mlan``: the ResNet U-Net G (maps, sizes, padding, seeding, local weights, latent layer), the
two-class wrapper, De / Dd / AFC / the conventional discriminator, and which discriminators each variant builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from dabench import Seeds, SpecError, testing
from dabench.nn.features import extract_features
from dabench.nn.resnet_unet import MAP_NAMES, SCALES, OpenBlock, ResNetUNet, TwoClassLogits
from dabench.nn.training import ModelPredictor
from dabench_mlan import DEFAULTS, VARIANTS
from dabench_mlan.discriminators import (
    AFCDiscriminator,
    ConvDiscriminator,
    MapDiscriminator,
    MirroredDiscriminator,
    ShapeDiscriminator,
    centre_crop,
    conv_stages,
    decoder_discriminator,
    encoder_discriminator,
)
from dabench_mlan.method import build_networks

CPU = torch.device("cpu")
CHANNELS = {"f0": 64, "f1": 64, "f2": 128, "f3": 256, "f4": 512, "f5": 256, "f6": 128, "f7": 64, "f8": 32, "f9": 16}


@pytest.fixture(scope="module")
def unet() -> ResNetUNet:
    return ResNetUNet(3, seed=3).eval()


@pytest.mark.parametrize("size", [32, 48])
def test_maps_have_the_stated_names_sizes_and_widths(unet: ResNetUNet, size: int) -> None:
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logit, maps = unet.forward_maps(x)
        assert torch.equal(unet(x), logit)
    assert logit.shape == (2, 1, size, size)  # 48 px: padded to 64, cropped back
    padded = 32 * -(-size // 32)
    assert tuple(maps) == MAP_NAMES
    for name, t in maps.items():
        assert t.shape == (2, CHANNELS[name], padded // SCALES[name], padded // SCALES[name]), name
    assert ResNetUNet.map_sizes(size, size)["f4"] == (padded // 32, padded // 32)
    assert unet.channels == CHANNELS


def test_padding_replicates_the_edge(unet: ResNetUNet) -> None:
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (0, 24, 0, 24), mode="replicate")
    with torch.no_grad():
        assert torch.allclose(unet(x), unet(padded)[..., :40, :40], atol=1e-6)


def test_seeded_without_the_global_rng() -> None:
    state = torch.get_rng_state()
    a, b = ResNetUNet(1, encoder="resnet18", seed=1), ResNetUNet(1, encoder="resnet18", seed=1)
    c = ResNetUNet(1, encoder="resnet18", seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    for name in ("f0.0.weight", "f6.conv.0.weight", "head.weight"):
        pa, pb, pc = (dict(m.named_parameters())[name] for m in (a, b, c))
        assert torch.equal(pa, pb) and not torch.equal(pa, pc), name


def test_open_block_is_torchvision_basic_block(unet: ResNetUNet) -> None:
    block = unet.f4[-1]
    assert isinstance(block, OpenBlock)
    h = torch.rand(2, 512, 2, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(block(h), block.block(h), atol=1e-6)


def test_weights_round_trip(tmp_path: Path) -> None:
    from torchvision.models import resnet34

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        reference = resnet34(weights=None).eval()
    path = tmp_path / "r34.pt"
    torch.save(reference.state_dict(), path)
    model = ResNetUNet(3, weights=str(path), seed=5).eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        _, maps = model.forward_maps(x)
        f0 = reference.relu(reference.bn1(reference.conv1(x)))
        f1 = reference.layer1(reference.maxpool(f0))
        f2 = reference.layer2(f1)
        f3 = reference.layer3(f2)
        f4 = reference.layer4(f3)
    for name, expected in zip(("f0", "f1", "f2", "f3", "f4"), (f0, f1, f2, f3, f4), strict=True):
        assert torch.allclose(maps[name], expected, atol=1e-5), name


def test_bad_weights_are_spec_errors(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    with pytest.raises(SpecError, match=r"resnet34 weights=.*no such file"):
        ResNetUNet(3, weights=str(tmp_path / "missing.pt"))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a state dict")
    with pytest.raises(SpecError, match="could not be read"):
        ResNetUNet(3, weights=str(garbage))
    small = tmp_path / "r18.pt"
    torch.save(resnet18(weights=None).state_dict(), small)
    with pytest.raises(SpecError, match="does not have torchvision resnet34's keys"):
        ResNetUNet(3, weights=str(small))
    with pytest.raises(SpecError, match="use one of resnet18, resnet34"):
        ResNetUNet(3, encoder="resnet50")
    with pytest.raises(SpecError, match="decoder_channels"):
        ResNetUNet(3, decoder_channels=(8, 8))


def test_two_class_logits_and_latent_layer(unet: ResNetUNet) -> None:
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    wrapped = TwoClassLogits(unet)
    with torch.no_grad():
        z = unet(x)
        probs = torch.softmax(wrapped(x), dim=1)
        _, maps = unet.forward_maps(x)
        block: Any = unet.f4[-1].block
        h = unet.f4[:-1](maps["f3"])
        pre = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(h))))) + h
    assert torch.allclose(probs[:, 1:], torch.sigmoid(z), atol=1e-6)
    assert torch.allclose(probs[:, :1], 1 - torch.sigmoid(z), atol=1e-6)
    assert torch.allclose(torch.relu(pre), maps["f4"], atol=1e-6)
    assert wrapped.latent_layer == "model.f4" and wrapped.max_batch_pixels == ResNetUNet.max_batch_pixels
    predictor = ModelPredictor(wrapped, CPU)
    latent, logits = predictor.latent_with_logits(x)
    assert torch.allclose(latent, pre.mean(dim=(2, 3)), atol=1e-5)
    assert torch.allclose(predictor.latent(x), latent, atol=1e-6) and logits.shape == (3, 2, 32, 32)
    for name in MAP_NAMES:  # every map has a pre-activation output
        assert extract_features(unet, x, name, pre_activation=True, reduce="mean").shape == (3, CHANNELS[name])


# ------------------------------------------------------------------------------------------- discriminators


def _maps(size: int = 64, n: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return {
        name: torch.rand(n, CHANNELS[name], size // SCALES[name], size // SCALES[name], generator=g)
        for name in MAP_NAMES
    }


def _stage_io(disc: MirroredDiscriminator, maps: dict[str, torch.Tensor]) -> list[tuple[int, tuple[int, ...]]]:
    """(input channels, output shape) of every residual stage in one forward pass."""
    seen: list[tuple[int, tuple[int, ...]]] = []
    hooks = [
        stage.register_forward_hook(lambda _m, i, o: seen.append((int(i[0].shape[1]), tuple(o.shape))))
        for stage in disc.stages
    ]
    try:
        assert disc(maps).shape == (2,)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_encoder_discriminator_concatenates_f1_to_f4() -> None:
    disc = encoder_discriminator(CHANNELS, torch.Generator().manual_seed(0))
    maps = _maps()
    seen = _stage_io(disc, maps)
    # stage k takes the previous stage's output ‖ f(k−1) (f0 alone first) and halves to f_k's size and width
    assert seen == [(64, (2, 64, 16, 16)), (128, (2, 128, 8, 8)), (256, (2, 256, 4, 4)), (512, (2, 512, 2, 2))]
    assert disc.fc.in_features == 1024 and len(disc.stages) == 4
    assert all(sum(1 for m in s.modules() if isinstance(m, nn.Conv2d)) == 3 for s in disc.stages)  # one block each
    bad = {**maps, "f2": maps["f2"][..., :2, :2]}
    with pytest.raises(ValueError, match="map f2"):
        disc(bad)


def test_decoder_discriminator_concatenates_f8_to_f5() -> None:
    disc = decoder_discriminator(CHANNELS, torch.Generator().manual_seed(0))
    seen = _stage_io(disc, _maps())
    assert seen == [(16, (2, 32, 32, 32)), (64, (2, 64, 16, 16)), (128, (2, 128, 8, 8)), (256, (2, 256, 4, 4))]
    assert disc.fc.in_features == 512


def test_afc_crops_every_map_to_the_smallest() -> None:
    sizes = ResNetUNet.map_sizes(64, 64)
    disc = AFCDiscriminator(CHANNELS, sizes)
    maps = _maps()
    joined = disc.concatenated(maps)
    assert joined.shape == (2, sum(CHANNELS.values()), 2, 2) and disc.size == (2, 2)
    offset = 64 + 64 + 128 + 256 + 512  # f5's channels follow f0 … f4; f5 is 4×4, its centre 2×2 rows/cols 1..2
    assert torch.equal(joined[:, offset : offset + 256], maps["f5"][..., 1:3, 1:3])
    grid = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert centre_crop(grid, 2, 2).flatten().tolist() == [14.0, 15.0, 20.0, 21.0]
    assert disc(maps).shape == (2,)


def test_conventional_discriminator_goes_down_to_four_pixels() -> None:
    assert [conv_stages(s) for s in (1, 2, 4, 8, 32, 64, 65)] == [1, 1, 1, 1, 3, 4, 5]
    net = ConvDiscriminator(16, 64)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512] and all(c.stride == (2, 2) for c in convs)
    assert any(isinstance(m, nn.LeakyReLU) for m in net.modules()) and net(torch.rand(3, 16, 64, 64)).shape == (3,)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_builds_exactly_its_discriminators(variant: str) -> None:
    task = testing.toy_task(n=4, shape=(1, 32, 32), task_type="segmentation")
    nets = build_networks(task, {**DEFAULTS, "discriminators": variant, "encoder": "resnet18"}, Seeds(0))
    assert set(nets.discriminators) == set(VARIANTS[variant])
    kinds = {
        "s": ShapeDiscriminator,
        "e": MirroredDiscriminator,
        "d": MirroredDiscriminator,
        "f4": MapDiscriminator,
        "f9": MapDiscriminator,
        "afc": AFCDiscriminator,
    }
    for key, disc in nets.discriminators.items():
        assert isinstance(disc, kinds[key]), key
    if "f9" in nets.discriminators:
        assert nets.discriminators["f9"].name == "f9"
    firsts = {"e": "f0", "d": "f9"}
    for key in set(firsts) & set(nets.discriminators):
        assert nets.discriminators[key].first == firsts[key]
    alphas = {"s": 0.1, "e": 0.01, "d": 0.05, "f4": 0.05, "f9": 0.05, "afc": 0.05}
    assert nets.alphas == {k: alphas[k] for k in VARIANTS[variant]}
