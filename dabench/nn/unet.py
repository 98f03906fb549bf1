"""U-Net (Ronneberger et al., 2015) with BatchNorm after every 3×3 convolution, for semantic segmentation.

Architecture (``UNet(in_channels, num_classes, width=64, depth=4)``):

* encoder: ``depth`` double-conv blocks (conv 3×3 → BN → ReLU, twice) with ``width·2^k`` channels at level ``k``,
  each followed by a 2×2 max-pool;
* ``bottleneck``: the deepest double-conv block, ``width·2^depth`` channels (1024 for the paper's 64 / depth 4);
* decoder: per level a 2×2 transposed convolution (stride 2, halving the channels; the paper's "up-convolution")
  whose output is concatenated with the encoder's skip, then a double-conv block;
* head: a 1×1 convolution to ``num_classes`` logits ``[N, C, H, W]`` at the input's size.

Differences from the paper: 'same' (zero) padding in the 3×3 convolutions instead of valid ones, so no skip
cropping is needed and the output has the input's size; BatchNorm after every 3×3 convolution (the BN-adaptation
study's network; the transposed convolutions and the head have none, their outputs are normalised by the next
block). Convolutions followed by BatchNorm have no bias (BN's shift replaces it). An input whose height or width
is not a multiple of ``2^depth`` is padded at the bottom/right by edge replication (``replicate``, valid for any
size, unlike ``reflect``) and the logits are cropped back.

The bottleneck is a ``Sequential`` ending in ReLU, so ``extract_features(model, x, model.latent_layer,
pre_activation=True, reduce="mean")`` gives the batch-normalised, pre-ReLU bottleneck features ``[N, width·2^depth]``
the study's latent predictors use (Stenger et al.: "before ReLU").

References
----------
Ronneberger O, Fischer P, Brox T (2015). U-Net: Convolutional Networks for Biomedical Image Segmentation. MICCAI.
Stenger A et al. (shared/papers/batchnorm-adaptation-fibsem-segmentation): U-Net with BatchNorm, BN adaptation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn
from torch.nn import functional

from dabench.errors import SpecError
from dabench.nn.models import init_parameters

if TYPE_CHECKING:
    from dabench.data import AdaptationTask
    from dabench.seeding import Seeds


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv 3×3 → BN → ReLU → conv 3×3 → BN → ReLU ('same' padding; the block of every U-Net level)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with BatchNorm; see the module docstring. ``channels`` lists the width of each level, encoder to
    bottleneck (``[width·2^k for k in 0..depth]``)."""

    latent_layer: ClassVar[str] = "bottleneck"
    """The layer whose pre-ReLU output is the model's latent representation (for shift diagnostics)."""

    max_batch_pixels: ClassVar[int] = 1 << 20
    """Inference batches hold at most this many pixels (``ModelPredictor`` chunks by it: 1024 images of 64×64,
    16 of 512×512), so large images do not exhaust memory."""

    def __init__(self, in_channels: int, num_classes: int, *, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1 or width < 1 or depth < 1:
            raise ValueError(
                f"UNet needs in_channels, num_classes, width and depth >= 1; got {in_channels}, {num_classes}, "
                f"{width}, {depth}"
            )
        self.depth = depth
        self.channels = [width * 2**k for k in range(depth + 1)]
        inputs = [in_channels, *self.channels[:-2]]
        self.encoder = nn.ModuleList(double_conv(i, o) for i, o in zip(inputs, self.channels[:-1], strict=True))
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = double_conv(self.channels[-2], self.channels[-1])
        deep_to_shallow = self.channels[::-1]
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in deep_to_shallow[:-1])
        self.decoder = nn.ModuleList(double_conv(c, c // 2) for c in deep_to_shallow[:-1])
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        multiple = 2**self.depth
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            x = functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.up, self.decoder, reversed(skips), strict=True):
            x = block(torch.cat([skip, up(x)], dim=1))
        logits: torch.Tensor = self.head(x)
        return logits[..., :height, :width] if pad_h or pad_w else logits


def unet_for(task: AdaptationTask, params: Mapping[str, Any], seeds: Seeds) -> UNet:
    """The U-Net for segmentation ``task`` (``params``: ``width`` = base width, ``depth``), initialised from the
    ``init`` seed. The global RNG is neither used nor advanced (PyTorch's construction-time initialisation, which
    :func:`~dabench.nn.models.init_parameters` overwrites, runs on a forked RNG state)."""
    missing = [name for name in ("width", "depth") if name not in params]
    if missing:
        raise SpecError(
            f"the U-Net for a segmentation task needs the parameters {', '.join(missing)} (base width and number of "
            "poolings); a method that trains it should declare dabench.nn.hyperparams.SEGMENTATION_DEFAULTS as its "
            "MethodSpec.task_defaults['segmentation']."
        )
    with torch.random.fork_rng(devices=[]):
        model = UNet(task.input_shape[0], task.num_classes, width=int(params["width"]), depth=int(params["depth"]))
    init_parameters(model, seeds.torch("init"))
    return model
