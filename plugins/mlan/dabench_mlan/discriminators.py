"""The discriminators of the multi-level adversarial network and of its baselines; each returns one logit per image.

* **De** (:func:`encoder_discriminator`, a :class:`MirroredDiscriminator`), mirroring the ResNet encoder: it takes
  f0 (64 ch, H/2); then four residual stages, each ONE torchvision ``BasicBlock`` with stride 2 (ResNet-34 has
  3/4/6/3 blocks per stage; one keeps the discriminator cheap) to the width of the encoder map of that size, after
  which that map is concatenated channel-wise: stage 1 → H/4, ‖ f1 (64 + 64); stage 2 → H/8, ‖ f2 (128 + 128);
  stage 3 → H/16, ‖ f3 (256 + 256); stage 4 → H/32, ‖ f4 (512 + 512); global average pooling + Linear(1024, 1).
* **Dd** (:func:`decoder_discriminator`), the mirror over the decoder: it takes f9 (16 ch, H) and downsamples stage
  by stage the same way, concatenating f8 (H/2, 32 + 32), f7 (H/4, 64 + 64), f6 (H/8, 128 + 128) and f5 (H/16,
  256 + 256); pooling + Linear(512, 1). "The FMs of other layers are sequentially concatenated to the
  discriminator's FMs which have the same size as them" (§2.1.2): no map is cropped.
* **Ds** (:class:`ShapeDiscriminator`): torchvision ResNet-18 with one input channel, from scratch
  (:func:`dabench.nn.resnet.resnet18_features`) + Linear(512, 1); it reads masks: ground truth (float {0, 1}) or
  G's probability maps σ(logit).
* **Conventional** (:class:`ConvDiscriminator`, for SF-4 / SF-9 / AFC): stages of conv 3×3 stride 2 (padding 1) →
  BatchNorm → LeakyReLU(0.2), widths 64, 128, 256, 512, 512, …, until the map is at most 4 px (at least one stage),
  then global average pooling + Linear(width, 1). :class:`MapDiscriminator` applies one to a single named map
  (``sf4``: f4, ``sf9``: f9); :class:`AFCDiscriminator` centre-crops all maps f0 … f9 to the smallest size (f4's) and
  concatenates them channel-wise (1520 channels for the default widths) into one (Kamnitsas et al.).

Domain discriminators take the dict of maps (:meth:`dabench.nn.resnet_unet.ResNetUNet.forward_maps`), Ds a mask
tensor ``[N, 1, H, W]``. Initialisation: built under :func:`torch.random.fork_rng`, then every conv / linear layer
re-initialised like PyTorch's default from the given generator (:func:`dabench.nn.models.init_parameters`); Ds's
ResNet-18 keeps torchvision's initialisation from its seed.

References
----------
Multi-level adversarial network for domain adaptive glomeruli segmentation (arXiv 2002.08587), §2.1.2–2.1.3, Fig. 2.
Kamnitsas K. et al. (2017), Unsupervised domain adaptation in brain lesion segmentation with adversarial networks,
IPMI. He et al. (2016), Deep Residual Learning, CVPR (BasicBlock).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from dabench.nn.models import init_parameters
from dabench.nn.resnet import resnet18_features

Maps = Mapping[str, torch.Tensor]
ModuleT = TypeVar("ModuleT", bound=nn.Module)
LEAKY_SLOPE = 0.2
CONV_WIDTH = 64
CONV_MAX_WIDTH = 512
CONV_MIN_SIZE = 4


def residual_stage(in_channels: int, out_channels: int) -> BasicBlock:
    """One torchvision ``BasicBlock`` with stride 2 and a 1×1-conv + BN shortcut (its input and output differ)."""
    shortcut = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False),
        nn.BatchNorm2d(out_channels),
    )
    return BasicBlock(in_channels, out_channels, stride=2, downsample=shortcut)


def _built(make: Callable[[], ModuleT], generator: torch.Generator) -> ModuleT:
    """``make()`` under a forked global RNG, then re-initialised from ``generator``."""
    with torch.random.fork_rng(devices=[]):
        module = make()
    init_parameters(module, generator)
    return module


class MirroredDiscriminator(nn.Module):
    """Takes map ``first``; per stage, a stride-2 residual block to the width of the next map in ``joins``, then that
    map concatenated; pooling + a linear layer to one logit (De and Dd; see the module docstring)."""

    def __init__(self, first: str, joins: Sequence[str], channels: Mapping[str, int]) -> None:
        super().__init__()
        self.first, self.joins = first, tuple(joins)
        width = channels[first]
        stages = []
        for name in self.joins:
            stages.append(residual_stage(width, channels[name]))
            width = 2 * channels[name]
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 1)

    def forward(self, maps: Maps) -> torch.Tensor:
        x = maps[self.first]
        for stage, name in zip(self.stages, self.joins, strict=True):
            x = stage(x)
            skip = maps[name]
            if x.shape[-2:] != skip.shape[-2:]:
                raise ValueError(
                    f"discriminator stage reached {tuple(x.shape[-2:])} but map {name} is {tuple(skip.shape[-2:])}; "
                    "the maps must come from one ResNetUNet pass (input padded to a multiple of 32)."
                )
            x = torch.cat([x, skip], dim=1)
        logit: torch.Tensor = self.fc(self.pool(x).flatten(1))
        return logit.squeeze(1)


def encoder_discriminator(channels: Mapping[str, int], generator: torch.Generator) -> MirroredDiscriminator:
    """De: from f0, concatenating f1 … f4."""
    return _built(lambda: MirroredDiscriminator("f0", ("f1", "f2", "f3", "f4"), channels), generator)


def decoder_discriminator(channels: Mapping[str, int], generator: torch.Generator) -> MirroredDiscriminator:
    """Dd: from f9, concatenating f8 … f5."""
    return _built(lambda: MirroredDiscriminator("f9", ("f8", "f7", "f6", "f5"), channels), generator)


def conv_stages(size: int) -> int:
    """Stride-2 stages that bring a map of ``size`` px to at most 4 px (at least one)."""
    return max(1, math.ceil(math.log2(size / CONV_MIN_SIZE))) if size > CONV_MIN_SIZE else 1


class ConvDiscriminator(nn.Module):
    """Conv 3×3 stride 2 → BN → LeakyReLU(0.2) stages down to ≤ 4 px, pooling, Linear → one logit."""

    def __init__(self, in_channels: int, size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for k in range(conv_stages(size)):
            out = min(CONV_WIDTH * 2**k, CONV_MAX_WIDTH)
            layers += [
                nn.Conv2d(width, out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            ]
            width = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit: torch.Tensor = self.fc(self.body(x))
        return logit.squeeze(1)


class MapDiscriminator(nn.Module):
    """A :class:`ConvDiscriminator` on one named map (SF-4, SF-9)."""

    def __init__(self, name: str, channels: Mapping[str, int], sizes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__()
        self.name = name
        self.net = ConvDiscriminator(channels[name], max(sizes[name]))

    def forward(self, maps: Maps) -> torch.Tensor:
        out: torch.Tensor = self.net(maps[self.name])
        return out


def centre_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The central ``height × width`` window of ``x`` ``[N, C, H, W]`` (top/left offset ``(H − height) // 2``)."""
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width]


class AFCDiscriminator(nn.Module):
    """All maps centre-cropped to the smallest one's size, concatenated, one :class:`ConvDiscriminator` (AFC)."""

    def __init__(self, channels: Mapping[str, int], sizes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__()
        self.names = tuple(channels)
        self.size = min((sizes[n] for n in self.names), key=lambda hw: hw[0] * hw[1])
        self.net = ConvDiscriminator(sum(channels.values()), max(self.size))

    def concatenated(self, maps: Maps) -> torch.Tensor:
        """The cropped maps concatenated channel-wise ``[N, Σ C, h, w]``."""
        return torch.cat([centre_crop(maps[n], *self.size) for n in self.names], dim=1)

    def forward(self, maps: Maps) -> torch.Tensor:
        out: torch.Tensor = self.net(self.concatenated(maps))
        return out


class ShapeDiscriminator(nn.Module):
    """Ds: a 1-channel ResNet-18 from scratch + Linear(512, 1), on masks ``[N, 1, H, W]`` in [0, 1]."""

    def __init__(self, seed: int, generator: torch.Generator) -> None:
        super().__init__()
        self.features, dim = resnet18_features(1, seed=seed)
        self.fc = _built(lambda: nn.Linear(dim, 1), generator)

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        logit: torch.Tensor = self.fc(self.features(masks))
        return logit.squeeze(1)


def build_discriminator(
    key: str,
    channels: Mapping[str, int],
    sizes: Mapping[str, tuple[int, int]],
    *,
    seed: int,
    generator: torch.Generator,
) -> nn.Module:
    """The discriminator ``key`` (``s``, ``e``, ``d``, ``f4``, ``f9``, ``afc``: see ``dabench_mlan.VARIANTS``) for
    maps of the given channels and sizes; ``seed`` seeds Ds's ResNet-18, ``generator`` every other layer."""
    if key == "s":
        return ShapeDiscriminator(seed, generator)
    if key == "e":
        return encoder_discriminator(channels, generator)
    if key == "d":
        return decoder_discriminator(channels, generator)
    if key in ("f4", "f9"):
        return _built(lambda: MapDiscriminator(key, channels, sizes), generator)
    if key == "afc":
        return _built(lambda: AFCDiscriminator(channels, sizes), generator)
    raise ValueError(f"unknown discriminator {key!r}; use s, e, d, f4, f9 or afc")
