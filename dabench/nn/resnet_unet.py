"""A U-Net with a torchvision ResNet encoder (ResNet-34 by default) and one foreground logit, its feature maps
addressable by name, as the segmentation network G of the multi-level adversarial paper.

Architecture (``ResNetUNet(in_channels, encoder="resnet34", decoder_channels=(256, 128, 64, 32, 16))``), for an
input of ``H × W`` (a multiple of 32 after padding):

* encoder, torchvision's ``resnet34(weights=None)`` without ``fc`` (:func:`dabench.nn.resnet.resnet_trunk`; nothing
  is downloaded; ``weights=PATH`` loads a local torchvision state dict, ``fc.*`` ignored):
  ``f0`` stem conv1-bn1-relu (64 ch, H/2), ``f1`` max-pool + layer1 (64, H/4), ``f2`` layer2 (128, H/8), ``f3``
  layer3 (256, H/16), ``f4`` layer4, the bottleneck (512, H/32);
* decoder blocks ``f5`` … ``f9``: nearest-neighbour upsampling ×2, concatenation with the matching skip (``f3``,
  ``f2``, ``f1``, ``f0``; none for ``f9``) and two conv 3×3-BN-ReLU (:func:`dabench.nn.unet.double_conv`) to
  ``decoder_channels``: ``f5`` H/16, ``f6`` H/8, ``f7`` H/4, ``f8`` H/2, ``f9`` H;
* head: a 1×1 convolution to one foreground logit ``[N, 1, H, W]`` (trained with BCE).

:meth:`ResNetUNet.forward_maps` returns the logit and every map by name from one forward pass (the paper's
discriminators read them). An input whose height or width is not a multiple of 32 is padded at the bottom/right by
edge replication and the logit cropped back (as :class:`dabench.nn.unet.UNet`); the maps are those of the padded
input (:meth:`ResNetUNet.map_sizes`).

Pre-activation maps. Every named map ends in a ReLU module that is its last registered sub-module and runs once per
pass, so ``extract_features(model, x, "f4", pre_activation=True)`` gives the pre-ReLU map; for ``f1`` … ``f4`` the
last residual block of the stage is wrapped (:class:`OpenBlock`) so that its final ReLU is its own module, applied
to the residual sum (torchvision's BasicBlock computes the same, reusing one ReLU twice). ``latent_layer = "f4"``:
the batch-normalised, pre-ReLU bottleneck (residual sum) the harness's latent diagnostics average over space, as
the U-Net's ``bottleneck``; ``max_batch_pixels`` caps inference chunks as the U-Net's.

:class:`TwoClassLogits` presents the one-logit network to the harness, which scores segmentation predictions
``[N, C, H, W]`` with class 1 = foreground: ``[0, z]``, whose softmax is ``[1 − σ(z), σ(z)]``, exactly the BCE
model's probabilities.

Initialisation is seeded and leaves the global RNG alone: the encoder as :func:`~dabench.nn.resnet.resnet_trunk`
(torchvision's initialisation from ``seed``), the decoder and head built under :func:`torch.random.fork_rng` and
initialised like PyTorch's defaults (:func:`~dabench.nn.models.init_parameters`) from
``derive_seed(seed, "decoder")``.

References
----------
Ronneberger, Fischer & Brox (2015), U-Net, MICCAI. He, Zhang, Ren & Sun (2016), Deep Residual Learning, CVPR.
Multi-level adversarial network for domain adaptive glomeruli segmentation (Chuang Zhu, corresponding author, et
al., arXiv 2002.08587, 2020; shared/papers/multilevel-adversarial-glomeruli-segmentation.txt), §2.1.1: "We adopt
Unet ... We adopt ResNet-34 without the last fully connected layer as the encoder", feature maps f0 … f9 (Fig. 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional

from dabench.errors import SpecError
from dabench.nn.models import init_parameters
from dabench.nn.resnet import resnet_trunk
from dabench.nn.unet import double_conv
from dabench.seeding import derive_seed

#: the named maps, encoder (f0 … f4) then decoder (f5 … f9)
ENCODER_MAPS = ("f0", "f1", "f2", "f3", "f4")
DECODER_MAPS = ("f5", "f6", "f7", "f8", "f9")
MAP_NAMES = ENCODER_MAPS + DECODER_MAPS
#: channels of f0 … f4 for torchvision's BasicBlock ResNets (18 and 34)
ENCODER_CHANNELS = (64, 64, 128, 256, 512)
#: downsampling factor of each map relative to the (padded) input
SCALES = dict(zip(MAP_NAMES, (2, 4, 8, 16, 32, 16, 8, 4, 2, 1), strict=True))
MULTIPLE = 32


class OpenBlock(nn.Module):
    """A torchvision ``BasicBlock`` whose final ReLU is its own last module (``act``), applied to the residual sum:
    the same function, with the pre-activation output hookable."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b: Any = self.block
        identity = x if b.downsample is None else b.downsample(x)
        out = b.bn2(b.conv2(b.relu(b.bn1(b.conv1(x)))))
        result: torch.Tensor = self.act(out + identity)
        return result


def _stage(*modules: nn.Module) -> nn.Sequential:
    """``modules`` (the last a ResNet layer) as one Sequential whose last block is an :class:`OpenBlock`."""
    *head, layer = modules
    blocks = list(layer.children())
    return nn.Sequential(*head, *blocks[:-1], OpenBlock(blocks[-1]))


class DecoderBlock(nn.Module):
    """Upsample ×2 (nearest), concatenate the skip (if any), two conv 3×3-BN-ReLU (the last module is a ReLU)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = double_conv(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        out: torch.Tensor = self.conv(x if skip is None else torch.cat([x, skip], dim=1))
        return out


class ResNetUNet(nn.Module):
    """U-Net with a torchvision ResNet encoder and a foreground logit; see the module docstring."""

    latent_layer: ClassVar[str] = "f4"
    """The layer whose pre-ReLU output is the model's latent representation (for shift diagnostics)."""

    max_batch_pixels: ClassVar[int] = 1 << 20
    """Inference batches hold at most this many pixels (as :class:`dabench.nn.unet.UNet`)."""

    def __init__(
        self,
        in_channels: int,
        *,
        encoder: str = "resnet34",
        weights: str = "",
        seed: int = 0,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
    ) -> None:
        super().__init__()
        widths = tuple(int(c) for c in decoder_channels)
        if len(widths) != len(DECODER_MAPS) or min(widths) < 1:
            raise SpecError(
                f"ResNetUNet decoder_channels={tuple(decoder_channels)!r}: give {len(DECODER_MAPS)} positive widths, "
                "one per decoder block f5 … f9 (default (256, 128, 64, 32, 16))."
            )
        net: Any = resnet_trunk(encoder, in_channels, weights=weights, seed=seed)
        self.encoder_name = encoder
        self.f0 = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.f1 = _stage(net.maxpool, net.layer1)
        self.f2 = _stage(net.layer2)
        self.f3 = _stage(net.layer3)
        self.f4 = _stage(net.layer4)
        skips = (*ENCODER_CHANNELS[3::-1], 0)  # f3, f2, f1, f0, none
        inputs = (ENCODER_CHANNELS[4], *widths[:-1])
        with torch.random.fork_rng(devices=[]):  # construction-time init is overwritten below
            decoder = [DecoderBlock(i, s, o) for i, s, o in zip(inputs, skips, widths, strict=True)]
            head = nn.Conv2d(widths[-1], 1, 1)
        self.f5, self.f6, self.f7, self.f8, self.f9 = decoder
        self.head = head
        init_parameters(nn.ModuleList([*decoder, head]), torch.Generator().manual_seed(derive_seed(seed, "decoder")))
        self.channels: dict[str, int] = dict(zip(MAP_NAMES, (*ENCODER_CHANNELS, *widths), strict=True))

    @staticmethod
    def map_sizes(height: int, width: int) -> dict[str, tuple[int, int]]:
        """The spatial size of every map for an input of ``height × width`` (padded to a multiple of 32)."""
        h, w = height + (-height % MULTIPLE), width + (-width % MULTIPLE)
        return {name: (h // s, w // s) for name, s in SCALES.items()}

    def forward_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The logit ``[N, 1, H, W]`` and the maps ``f0`` … ``f9`` (of the padded input) from one forward pass."""
        height, width = int(x.shape[-2]), int(x.shape[-1])
        pad_h, pad_w = -height % MULTIPLE, -width % MULTIPLE
        if pad_h or pad_w:
            x = functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        maps: dict[str, torch.Tensor] = {}
        for name in ENCODER_MAPS:
            x = getattr(self, name)(x)
            maps[name] = x
        for name, skip in zip(DECODER_MAPS, ("f3", "f2", "f1", "f0", None), strict=True):
            x = getattr(self, name)(x, maps[skip] if skip else None)
            maps[name] = x
        logit: torch.Tensor = self.head(x)
        return (logit[..., :height, :width] if pad_h or pad_w else logit), maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_maps(x)[0]


class TwoClassLogits(nn.Module):
    """``[N, 2, H, W]`` logits ``[0, z]`` from a one-logit segmenter (softmax = ``[1 − σ(z), σ(z)]``), for the harness;
    the wrapped model's ``latent_layer`` (as ``model.<name>``) and ``max_batch_pixels`` are passed through."""

    def __init__(self, model: ResNetUNet) -> None:
        super().__init__()
        self.model = model

    @property
    def latent_layer(self) -> str:
        return f"model.{self.model.latent_layer}"

    @property
    def max_batch_pixels(self) -> int:
        return self.model.max_batch_pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return torch.cat([torch.zeros_like(z), z], dim=1)
