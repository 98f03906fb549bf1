"""StarGAN's generator and PatchGAN discriminator (Choi et al. 2018), as Valliani et al. describe them (§5.3.2).

Both work on images normalised with mean and standard deviation 0.5 (``[0, 1] → [−1, 1]``, :func:`to_gan`), the
paper's preprocessing; :func:`from_gan` maps back.

Generator G(x, c): the one-hot target-domain code ``c`` is tiled over the image and concatenated to ``x`` as extra
channels; conv 7×7 (``width``) → two downsampling convs 4×4 stride 2 (2·``width``, 4·``width``) → ``res_blocks``
residual blocks (conv 3×3 → IN → ReLU → conv 3×3 → IN, plus the input; the paper: 4 for digits, 9 for chest x-rays)
→ two transposed convs 4×4 stride 2 (2·``width``, ``width``) → conv 7×7 to the image's channels → tanh. Every conv
but the last is followed by InstanceNorm (affine, per-image statistics in training and evaluation alike:
``track_running_stats`` off, so G translates an image the same whatever else is in its batch) and ReLU; convs
followed by InstanceNorm carry no bias (the norm would remove it). G keeps the input's height and width, so both must
be multiples of 4 (two halvings and two doublings); 8 px is the smallest (a 2×2 bottleneck).

Discriminator D(x) → (``src``, ``cls``): PatchGAN convs with kernel 4, stride 2, padding 1, each followed by
LeakyReLU(0.01), channels ``width``, 2·``width``, 4·``width``, … (doubling); no normalisation (WGAN-GP, Gulrajani et
al. 2017: the gradient penalty is per sample). Then two output convs: ``src`` (3×3, stride 1, padding 1 → one
real/fake score per patch, ``[N, 1, h, w]``) and ``cls`` (kernel = the remaining ``h × w`` → one logit per domain,
``[N, n_domains]``).

Depth adapted to the image size. The paper's six stride-2 layers are StarGAN's design for 128 px faces (→ 2×2
patches); its 32 px digits would shrink to half a pixel. The default depth (``layers = 0``, :func:`default_layers`)
halves each side while it stays an even number of at least 4, i.e. until the map is between 2 and 3 pixels (or odd):
``log2(size) − 1`` layers for a power of two — 32 px → 4 layers → 2×2 patches, 16 px → 3, 64 px → 5, 128 px → 6 (the
paper's six) — and 12 px → 2 layers → 3×3, 28 px → 2 → 7×7, 224 px → 5 → 7×7. An explicit depth must divide both
sides exactly (:func:`check_layers`).
"""

from __future__ import annotations

import torch
from torch import nn

from dabench import SpecError

LEAKY_SLOPE = 0.01


def to_gan(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` images → G/D's range ``[−1, 1]`` (mean and standard deviation 0.5, the paper's normalisation)."""
    return images * 2.0 - 1.0


def from_gan(images: torch.Tensor) -> torch.Tensor:
    """G's ``[−1, 1]`` output → ``[0, 1]`` images (clamped)."""
    return ((images + 1.0) * 0.5).clamp(0.0, 1.0)


def check_image_size(height: int, width: int) -> None:
    """A :class:`~dabench.SpecError` unless G can keep ``height × width`` (multiples of 4, at least 8)."""
    if height % 4 or width % 4 or min(height, width) < 8:
        raise SpecError(
            f"stargan cannot translate {height}×{width} images: the generator halves the image twice and doubles it "
            "back, so height and width must be multiples of 4 and at least 8 (valid sizes: 8, 12, 16, 20, 24, 28, 32, "
            "…, 64, …, 224, …). Resize the images (the paper resizes digits to 32×32)."
        )


def _halvings(side: int) -> int:
    count = 0
    while side % 2 == 0 and side // 2 >= 2:
        side //= 2
        count += 1
    return count


def default_layers(height: int, width: int) -> int:
    """The discriminator depth adapted to the image size (see the module docstring): ``log2(size) − 1`` for a
    square power of two (32 px → 4 → 2×2 patches)."""
    check_image_size(height, width)
    return min(_halvings(height), _halvings(width))


def check_layers(layers: int, height: int, width: int) -> int:
    """``layers`` stride-2 convs for ``height × width`` images (0: :func:`default_layers`); a
    :class:`~dabench.SpecError` naming the valid depths when ``2**layers`` does not divide both sides."""
    if layers == 0:
        return default_layers(height, width)
    check_image_size(height, width)
    most = 0
    while height % (2 ** (most + 1)) == 0 and width % (2 ** (most + 1)) == 0:
        most += 1
    if not 1 <= layers <= most:
        raise SpecError(
            f"stargan parameter d_layers={layers} does not fit {height}×{width} images: each layer halves the image "
            f"exactly, so use 1 to {most} layers (or 0 for the default, {default_layers(height, width)} layers for "
            "this size; the paper's six stride-2 layers need 128 px)."
        )
    return layers


class ResidualBlock(nn.Module):
    """``x + IN(conv(ReLU(IN(conv(x)))))`` with 3×3 convs, channels kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _conv_in_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.InstanceNorm2d(channels, affine=True), nn.ReLU(inplace=True)]


class Generator(nn.Module):
    """G(x, c): ``x`` ``[N, C, H, W]`` in ``[−1, 1]``, ``c`` one-hot ``[N, n_domains]`` → ``[N, C, H, W]`` in
    ``[−1, 1]`` (see the module docstring)."""

    def __init__(self, channels: int, n_domains: int, *, width: int = 64, res_blocks: int = 4) -> None:
        super().__init__()
        self.channels, self.n_domains = channels, n_domains
        w1, w2, w4 = width, 2 * width, 4 * width
        layers: list[nn.Module] = [
            *_conv_in_relu(nn.Conv2d(channels + n_domains, w1, 7, padding=3, bias=False), w1),
            *_conv_in_relu(nn.Conv2d(w1, w2, 4, stride=2, padding=1, bias=False), w2),
            *_conv_in_relu(nn.Conv2d(w2, w4, 4, stride=2, padding=1, bias=False), w4),
            *(ResidualBlock(w4) for _ in range(res_blocks)),
            *_conv_in_relu(nn.ConvTranspose2d(w4, w2, 4, stride=2, padding=1, bias=False), w2),
            *_conv_in_relu(nn.ConvTranspose2d(w2, w1, 4, stride=2, padding=1, bias=False), w1),
            nn.Conv2d(w1, channels, 7, padding=3, bias=False),
            nn.Tanh(),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        tiled = code.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, tiled], dim=1))


class Discriminator(nn.Module):
    """D(x) → (``src`` ``[N, 1, h, w]`` patch scores, ``cls`` ``[N, n_domains]`` domain logits) for ``height ×
    width`` images (see the module docstring)."""

    def __init__(
        self, channels: int, n_domains: int, height: int, width_px: int, *, width: int = 64, layers: int = 0
    ) -> None:
        super().__init__()
        self.layers = check_layers(layers, height, width_px)
        modules: list[nn.Module] = []
        current, out = channels, width
        for _ in range(self.layers):
            modules += [nn.Conv2d(current, out, 4, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE)]
            current, out = out, out * 2
        self.trunk = nn.Sequential(*modules)
        h, w = height // 2**self.layers, width_px // 2**self.layers
        self.patches = (h, w)
        self.src = nn.Conv2d(current, 1, 3, padding=1, bias=False)
        self.cls = nn.Conv2d(current, n_domains, (h, w), bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.src(h), self.cls(h).flatten(1)


def build_networks(
    channels: int,
    height: int,
    width_px: int,
    n_domains: int,
    *,
    g_width: int,
    g_res_blocks: int,
    d_width: int,
    d_layers: int,
    seed: int,
) -> tuple[Generator, Discriminator]:
    """G and D, initialised like PyTorch's defaults inside :func:`torch.random.fork_rng` with the CPU generator
    seeded from ``seed`` (the global RNG's state is left as it was)."""
    check_image_size(height, width_px)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))
        generator = Generator(channels, n_domains, width=g_width, res_blocks=g_res_blocks)
        discriminator = Discriminator(channels, n_domains, height, width_px, width=d_width, layers=d_layers)
    return generator, discriminator
