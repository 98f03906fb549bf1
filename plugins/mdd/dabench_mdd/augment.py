"""The blood-cell paper's training augmentations, batched on tensors on the run's device.

The paper lists an albumentations pipeline for 360 px images: CenterCrop 345, RandomCrop 224, Blur (p 0.5, box
kernel 3–7), RandomFog (p 0.5, fog coefficient U[0.3, 1], alpha 0.08), ColorJitter (p 0.5; brightness [0.7, 1.3],
contrast and saturation [0.5, 1.5], hue 0), Flip (p 0.5), Rotate (p 0.5, ±180°, bilinear, reflect-101 border),
RandomScale (p 0.5, ±20 %), Resize 224. :class:`PaperAugment` applies the same steps, in the same order, to a batch
of ``s``-pixel images, with every length scaled from the paper's pixels to ours:

* **crops**: centre crop to ``round(s · 345/360)``, then a uniformly placed crop of ``round(that · 224/345)``
  (≈ 0.62 s) per image;
* **blur**: albumentations' box blur of odd width k ∈ {3, 5, 7} on the 224 px crop becomes a box of width
  ``k · c / 224`` on our ``c``-pixel crop. Widths are fractional, so the kernel weights each tap by the overlap of its
  pixel with the box (an odd integer width is exactly the plain box); reflect-101 border as ``cv2.blur``;
* **fog**: a faithful re-implementation of albumentations' ``RandomFog`` (1.x): with ``f ~ U[0.3, 1]`` and
  ``hw = ⌊224 / 3⌋ · f``, rings of white discs of radius ``hw / 2`` are placed at the same random positions as
  albumentations draws them (``hw // 10 · ring`` discs on ring ``ring``, the window around the centre widening by
  ``1.5 · hw`` per ring until it covers the image), each disc alpha-blended towards white with ``α = 0.08 · f``
  (``cv2.addWeighted``), so a pixel covered by ``m`` discs becomes ``1 − (1 − x)(1 − α)^m``; then the whole crop is
  box-blurred with width ``hw // 10``. Positions and radii are computed in the paper's 224 px frame and rasterised
  on ours (a disc covers the pixels whose centre lies within its radius); 8-bit rounding between discs is not
  reproduced;
* **colour jitter**: brightness ``x · b``, contrast ``c · x + (1 − c) · mean(grey(x))``, saturation
  ``s · x + (1 − s) · grey(x)`` (ITU-R 601 grey; identity for one channel), in a random order per image as
  albumentations shuffles them, clipped to [0, 1] after each;
* **flip**: albumentations' ``Flip`` picks vertical, horizontal or both with equal probability;
* **rotation**: angle U[−180°, 180°] about the centre, bilinear, reflected border (``grid_sample``'s
  ``reflection`` mode reflects about the pixel edges — cv2's BORDER_REFLECT rather than REFLECT_101, a half-pixel
  difference at the border), composed with the flip into one resampling;
* **random scale**: albumentations resizes by ``1 + u``, ``u ~ U[−0.2, 0.2]`` (``int(size · (1 + u))``), and the
  pipeline's final Resize brings the image back to a fixed size — so geometrically the pair is the identity, and
  its only effect is the bilinear round trip's resampling (blur when enlarging, lost detail when shrinking). That is
  reproduced literally: bilinear resize to ``int(c · (1 + u))``, then to ``s``;
* **resize** back to ``s`` (bilinear, like ``cv2.INTER_LINEAR``); output clamped to [0, 1]. Normalisation is the
  model's first layer, not an augmentation.

Magnification. Our crop (≈ 0.62 s) is resized back to ``s``, so training images are magnified ≈ 1.6× relative to
the unaugmented ``s``-pixel images the model is evaluated on; in the paper the network sees 224 px crops at the
original scale. The random scale's round trip does not change that.

Randomness: every parameter (which images, crop offsets, kernel widths, fog coefficients and disc positions,
jitter factors and order, flip, angle, scale) is drawn on the CPU from the seeded ``torch.Generator`` given to
:class:`PaperAugment`, in a fixed order, and sent to the images' device; no draw touches the global RNG, and the
device never has to synchronise with the host.

References
----------
The blood-cell paper (shared/papers/mdd-blood-cell-classification.txt): the augmentation list above.
Buslaev et al. (2020), Albumentations: Fast and Flexible Image Augmentations, Information 11(2):125.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

P = 0.5  # every random step of the paper's list fires with probability 0.5
PAPER_SIZE, PAPER_CENTRE, PAPER_CROP = 360, 345, 224
BLUR_WIDTHS = (3.0, 5.0, 7.0)  # albumentations Blur(blur_limit=(3, 7)): an odd kernel size
FOG_COEF = (0.3, 1.0)
FOG_ALPHA = 0.08
BRIGHTNESS, CONTRAST, SATURATION = (0.7, 1.3), (0.5, 1.5), (0.5, 1.5)
ROTATION = 180.0
SCALE_LIMIT = 0.2
_GREY = (0.299, 0.587, 0.114)


def crop_sizes(h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The centre-crop and random-crop sizes for ``h × w`` images: the paper's 345/360 and 224/345, rounded."""
    centre = (max(1, round(h * PAPER_CENTRE / PAPER_SIZE)), max(1, round(w * PAPER_CENTRE / PAPER_SIZE)))
    crop = (max(1, round(centre[0] * PAPER_CROP / PAPER_CENTRE)), max(1, round(centre[1] * PAPER_CROP / PAPER_CENTRE)))
    return centre, crop


def box_kernels(widths: torch.Tensor) -> torch.Tensor:
    """``[N]`` box widths in pixels → ``[N, T]`` normalised 1-D kernels (``T`` odd, the same for all): tap ``j``
    weighs the overlap of the pixel ``[j − ½, j + ½]`` with the box ``[−w/2, w/2]``."""
    widths = widths.clamp(min=1e-6)
    radius = max(0, math.ceil((float(widths.max()) - 1.0) / 2.0))
    taps = torch.arange(-radius, radius + 1, dtype=widths.dtype, device=widths.device)
    half = widths[:, None] / 2
    weight = (torch.minimum(taps + 0.5, half) - torch.maximum(taps - 0.5, -half)).clamp(0.0, 1.0)
    return weight / weight.sum(dim=1, keepdim=True)


def _blur_axis(x: torch.Tensor, kernels: torch.Tensor, dim: int) -> torch.Tensor:
    n, c, h, w = x.shape
    taps = kernels.shape[1]
    pad = taps // 2
    if pad == 0:
        return x
    size = w if dim == 3 else h
    mode = "reflect" if pad < size else "replicate"
    padding = (pad, pad, 0, 0) if dim == 3 else (0, 0, pad, pad)
    weight = kernels.to(device=x.device, dtype=x.dtype).repeat_interleave(c, dim=0)
    weight = weight[:, None, None, :] if dim == 3 else weight[:, None, :, None]
    out = F.conv2d(F.pad(x.reshape(1, n * c, h, w), padding, mode=mode), weight, groups=n * c)
    return out.reshape(n, c, h, w)


def box_blur(x: torch.Tensor, width_h: torch.Tensor, width_w: torch.Tensor) -> torch.Tensor:
    """Separable box blur of ``x`` ``[N, C, H, W]`` with per-image (fractional) widths, reflect-101 border; the
    kernels are made on the CPU (their size depends on the widths) and sent to ``x``'s device."""
    return _blur_axis(_blur_axis(x, box_kernels(width_w.cpu()), 3), box_kernels(width_h.cpu()), 2)


def fog_discs(coef: float, frame: tuple[int, int], generator: torch.Generator) -> tuple[torch.Tensor, float, int]:
    """albumentations' RandomFog disc placement in a ``frame = (height, width)`` pixel frame: ``(centres [M, 2]``
    as ``(y, x)``, disc radius, the final blur's width)``; see the module docstring."""
    height, width = frame
    hw = max(1, int(width // 3 * coef))
    bounds: list[tuple[int, int, int, int]] = []
    midx, midy, ring = width // 2 - 2 * hw, height // 2 - hw, 1
    step_x = max(1, 3 * hw * width // (height + width))
    step_y = max(1, 3 * hw * height // (height + width))
    while midx > -hw or midy > -hw:
        bounds += [(midx, width - midx - hw, midy, height - midy - hw)] * (hw // 10 * ring)
        midx, midy, ring = midx - step_x, midy - step_y, ring + 1
    disc = max(int(width // 3 * coef), 10)  # add_fog's own size
    if not bounds:
        return torch.zeros(0, 2), disc / 2, disc // 10
    lo_x, hi_x, lo_y, hi_y = (torch.tensor(b, dtype=torch.float64) for b in zip(*bounds, strict=True))
    u = torch.rand(len(bounds), 2, generator=generator, dtype=torch.float64)
    x = lo_x + torch.floor(u[:, 0] * (hi_x - lo_x + 1))  # random.randint(lo, hi), inclusive
    y = lo_y + torch.floor(u[:, 1] * (hi_y - lo_y + 1))
    offset = disc // 2
    return torch.stack([y + offset, x + offset], dim=1).float(), float(disc // 2), disc // 10


def apply_fog(
    x: torch.Tensor, coefs: list[float], discs: list[tuple[torch.Tensor, float, int]], frame: tuple[int, int]
) -> torch.Tensor:
    """Fog every image of ``x`` with its coefficient and :func:`fog_discs` (computed in ``frame``)."""
    n, _, h, w = x.shape
    scale_y, scale_x = frame[0] / h, frame[1] / w  # frame pixels per pixel of x
    py = (torch.arange(h, device=x.device, dtype=torch.float32) + 0.5) * scale_y - 0.5
    px = (torch.arange(w, device=x.device, dtype=torch.float32) + 0.5) * scale_x - 0.5
    most = max(1, max(len(c) for c, _, _ in discs))
    centres = torch.full((n, most, 2), 1e9)  # padding discs lie far outside every image
    for i, (c, _, _) in enumerate(discs):
        centres[i, : len(c)] = c
    centres = centres.to(x.device)
    radius2 = torch.tensor([r * r for _, r, _ in discs], device=x.device)[:, None, None, None]
    count = torch.zeros(n, h, w, device=x.device)
    for start in range(0, most, 8):
        cy, cx = centres[:, start : start + 8, 0], centres[:, start : start + 8, 1]
        d2 = (py[None, None, :, None] - cy[:, :, None, None]) ** 2 + (
            px[None, None, None, :] - cx[:, :, None, None]
        ) ** 2
        count += (d2 <= radius2).sum(dim=1)
    alpha = torch.tensor([FOG_ALPHA * f for f in coefs], device=x.device)[:, None, None, None]
    fogged = 1.0 - (1.0 - x) * (1.0 - alpha) ** count[:, None].to(x.dtype)
    blur = torch.tensor([float(b) for _, _, b in discs])
    return box_blur(fogged, blur / scale_y, blur / scale_x)


def grey(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma ``[N, 1, H, W]`` of RGB images (the image itself for one channel)."""
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    r, g, b = x.unbind(dim=1)
    return (_GREY[0] * r + _GREY[1] * g + _GREY[2] * b).unsqueeze(1)


def colour_jitter(
    x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor, order: torch.Tensor
) -> torch.Tensor:
    """Brightness, contrast and saturation factors ``[N]`` applied in each image's ``order`` (``[N, 3]``, a
    permutation of 0 = brightness, 1 = contrast, 2 = saturation), clipped after each step."""
    one = torch.ones_like(brightness)
    for stage in range(3):
        op = order[:, stage]
        b = torch.where(op == 0, brightness, one)[:, None, None, None]
        c = torch.where(op == 1, contrast, one)[:, None, None, None]
        s = torch.where(op == 2, saturation, one)[:, None, None, None]
        x = (x * b).clamp(0, 1)
        x = (c * x + (1 - c) * grey(x).mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)
        if x.shape[1] == 3:
            x = (s * x + (1 - s) * grey(x)).clamp(0, 1)
    return x


def flip_rotate(x: torch.Tensor, flip: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Flip (``flip``: −1 none, 0 vertical, 1 horizontal, 2 both), then rotate by ``degrees`` about the centre; one
    bilinear resampling with a reflected border. ``flip`` and ``degrees`` are ``[N]``."""
    n, _, h, w = x.shape
    theta = torch.deg2rad(degrees.to(torch.float64))
    cos, sin = torch.cos(theta), torch.sin(theta)
    fx = torch.where((flip == 1) | (flip == 2), -1.0, 1.0).to(torch.float64)
    fy = torch.where((flip == 0) | (flip == 2), -1.0, 1.0).to(torch.float64)
    # input = S⁻¹ · F · R(−θ) · S · output, in normalised coordinates (S: half-sizes, so rotation keeps the aspect)
    a = torch.zeros(n, 2, 3, dtype=torch.float64)
    a[:, 0, 0], a[:, 0, 1] = fx * cos, fx * sin * (h / w)
    a[:, 1, 0], a[:, 1, 1] = -fy * sin * (w / h), fy * cos
    grid = F.affine_grid(a.to(device=x.device, dtype=x.dtype), [n, x.shape[1], h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def scale_and_resize(x: torch.Tensor, factors: list[float | None], size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of each image to ``int(side · factor)`` (``None``: skipped), then to ``size``."""
    out = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    h, w = x.shape[-2:]
    for i, factor in enumerate(factors):
        if factor is not None:
            mid = (max(1, int(h * factor)), max(1, int(w * factor)))
            step = F.interpolate(x[i : i + 1], size=mid, mode="bilinear", align_corners=False)
            out[i : i + 1] = F.interpolate(step, size=size, mode="bilinear", align_corners=False)
    return out


class PaperAugment:
    """The paper's augmentation of a batch ``[N, C, H, W]`` in [0, 1] (see the module docstring); a new draw from
    ``generator`` (a CPU ``torch.Generator``) on every call. ``enabled=False`` returns the batch unchanged."""

    def __init__(self, generator: torch.Generator, *, enabled: bool = True) -> None:
        self.generator, self.enabled = generator, bool(enabled)

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator, dtype=torch.float64)

    def _coin(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator) < P

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        n, channels, h, w = x.shape
        device = x.device
        (ch, cw), (kh, kw) = crop_sizes(h, w)
        # every draw, in a fixed order (CPU)
        u_top, u_left = self._uniform(n, 0, 1), self._uniform(n, 0, 1)
        blur_on, blur_k = self._coin(n), torch.randint(len(BLUR_WIDTHS), (n,), generator=self.generator)
        fog_on, fog_coef = self._coin(n), self._uniform(n, *FOG_COEF)
        jitter_on = self._coin(n)
        bright, contrast, sat = (
            self._uniform(n, *BRIGHTNESS),
            self._uniform(n, *CONTRAST),
            self._uniform(n, *SATURATION),
        )
        order = torch.argsort(torch.rand(n, 3, generator=self.generator), dim=1)
        flip_on, flip_code = self._coin(n), torch.randint(3, (n,), generator=self.generator)
        rotate_on, angle = self._coin(n), self._uniform(n, -ROTATION, ROTATION)
        scale_on, scale = self._coin(n), self._uniform(n, 1 - SCALE_LIMIT, 1 + SCALE_LIMIT)
        frame = (max(1, round(PAPER_CROP * kh / kw)), PAPER_CROP)  # the paper's 224 px crop, our aspect
        fogged = fog_on.nonzero().flatten().tolist()
        discs = [fog_discs(float(fog_coef[i]), frame, self.generator) for i in fogged]

        # centre crop + random crop in one gather
        top = (h - ch) // 2 + torch.floor(u_top * (ch - kh + 1)).long()
        left = (w - cw) // 2 + torch.floor(u_left * (cw - kw + 1)).long()
        rows = (top[:, None] + torch.arange(kh)).to(device)
        cols = (left[:, None] + torch.arange(kw)).to(device)
        batch = torch.arange(n, device=device)[:, None, None, None]
        chan = torch.arange(channels, device=device)[None, :, None, None]
        out = x[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]

        if bool(blur_on.any()):
            idx = blur_on.nonzero().flatten()
            k = torch.tensor(BLUR_WIDTHS, dtype=torch.float64)[blur_k[idx]]
            sel = idx.to(device)
            out[sel] = box_blur(out[sel], k * kh / frame[0], k * kw / frame[1])
        if fogged:
            sel = torch.tensor(fogged, device=device)
            out[sel] = apply_fog(out[sel], [float(fog_coef[i]) for i in fogged], discs, frame)
        if bool(jitter_on.any()):
            idx = jitter_on.nonzero().flatten()
            sel = idx.to(device)
            b, c, s = (t[idx].to(device=device, dtype=out.dtype) for t in (bright, contrast, sat))
            out[sel] = colour_jitter(out[sel], b, c, s, order[idx].to(device))
        geometric = flip_on | rotate_on
        if bool(geometric.any()):
            idx = geometric.nonzero().flatten()
            flips = torch.where(flip_on[idx], flip_code[idx], -1)
            degrees = torch.where(rotate_on[idx], angle[idx], 0.0)
            sel = idx.to(device)
            out[sel] = flip_rotate(out[sel], flips, degrees)
        factors_list = [float(scale[i]) if bool(scale_on[i]) else None for i in range(n)]
        return scale_and_resize(out, factors_list, (h, w)).clamp(0, 1)
