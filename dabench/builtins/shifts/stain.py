"""H&E stain augmentation: per-image stain vectors (Macenko) and a random perturbation of stain concentrations.

Pixels go to optical density ``OD = −ln((255·x + 1) / 256)`` (Beer–Lambert). Each image's stain matrix ``S`` has the
haematoxylin and eosin OD vectors estimated as in Macenko et al.: the plane of the two leading eigenvectors of the
covariance of tissue pixels (all channels ``OD ≥ 0.15``), and the 1st/99th percentile angles in that plane; the third
column is their cross product (the residual channel), so ``S`` is invertible and ``C = S⁻¹·OD`` reconstructs exactly.
Images with under 2 % tissue or a degenerate estimate fall back to Ruifrok & Johnston's H&E vectors. With option
``stains="hed"`` every image uses Ruifrok & Johnston's fixed H, E and DAB vectors instead (as Tellez et al. did via
``skimage.color.rgb2hed``).

The perturbation is Tellez et al.'s HED augmentation: per image and stain channel, ``C' = α·C + β`` with
``α ~ U[1 − σ, 1 + σ]`` and ``β ~ U[−σ, σ]`` (OD units); intensity is ``σ`` in [0, 1] (Tellez: 0.05 "light",
0.2 "strong"). Grey images raise :class:`~dabench.errors.SpecError` (stain vectors need three colour channels).

References
----------
M. Macenko et al., "A method for normalizing histology slides for quantitative analysis", ISBI 2009.
D. Tellez et al., "Whole-slide mitosis detection in H&E breast histology using PHH3 as a reference to train
distilled stain-invariant convolutional networks", IEEE TMI 37(9), 2018.
A. C. Ruifrok, D. A. Johnston, "Quantification of histochemical staining by color deconvolution", AQCH 23(4), 2001.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dabench.builtins.shifts.chunks import map_chunks
from dabench.errors import SpecError
from dabench.specs import Citation, ShiftSpec

if TYPE_CHECKING:
    import torch

    from dabench.shiftrandom import ShiftRandom

TELLEZ_2018 = Citation(
    authors="David Tellez, Maschenka Balkenhol, Irene Otte-Höller, Rob van de Loo, Rob Vogels, Peter Bult, "
    "Carla Wauters, Willem Vreuls, Suzanne Mol, Nico Karssemeijer, Geert Litjens, Jeroen van der Laak, "
    "Francesco Ciompi",
    title="Whole-Slide Mitosis Detection in H&E Breast Histology Using PHH3 as a Reference to Train Distilled "
    "Stain-Invariant Convolutional Networks",
    year=2018,
    venue="IEEE Transactions on Medical Imaging",
    url="https://doi.org/10.1109/TMI.2018.2820199",
)
RUIFROK_HED = ((0.65, 0.70, 0.29), (0.07, 0.99, 0.11), (0.27, 0.57, 0.78))
"""Ruifrok & Johnston (2001) OD vectors (R, G, B) of haematoxylin, eosin and DAB."""
OD_THRESHOLD, ANGLE_PERCENTILE, MIN_TISSUE = 0.15, 0.01, 0.02


def to_od(x: torch.Tensor) -> torch.Tensor:
    """Optical density ``−ln((255·x + 1) / 256)``."""
    return x.clamp(0.0, 1.0).mul(255.0 / 256.0).add_(1.0 / 256.0).log_().neg_()


def from_od(od: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_od`, clipped to [0, 1]."""
    return od.neg().exp_().mul_(256.0 / 255.0).sub_(1.0 / 255.0).clamp_(0.0, 1.0)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp(min=1e-12)


def ruifrok_matrix(device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    """Columns: unit OD vectors of H, E, DAB, ``[3, 3]``."""
    import torch

    return _unit(torch.tensor(RUIFROK_HED, dtype=dtype, device=device)).T


def macenko_matrices(od: torch.Tensor) -> torch.Tensor:
    """Per-image stain matrices ``[N, 3, 3]`` (columns H, E, residual) from OD ``[N, 3, P]`` (see module doc)."""
    import torch

    p = od.shape[2]
    tissue = od.amin(dim=1) >= OD_THRESHOLD
    weight = tissue.to(od.dtype)
    count = weight.sum(1).clamp(min=1.0)
    mean = (od * weight[:, None]).sum(2) / count[:, None]
    centred = (od - mean[:, :, None]) * weight[:, None]
    cov = centred @ centred.transpose(1, 2) / count[:, None, None]
    plane = torch.linalg.eigh(cov).eigenvectors[:, :, 1:]
    coords = plane.transpose(1, 2) @ od
    angle = torch.atan2(coords[:, 1], coords[:, 0]).masked_fill_(~tissue, float("nan"))
    levels = torch.tensor([ANGLE_PERCENTILE, 1 - ANGLE_PERCENTILE], dtype=od.dtype, device=od.device)
    limits = torch.nanquantile(angle, levels, dim=1)
    vectors = [plane @ torch.stack([lim.cos(), lim.sin()], dim=1)[:, :, None] for lim in limits]
    v1, v2 = (_unit(v[:, :, 0] * torch.where(v[:, :, 0].sum(1, keepdim=True) < 0, -1.0, 1.0)) for v in vectors)
    first_is_h = (v1[:, 0] > v2[:, 0])[:, None]
    h, e = torch.where(first_is_h, v1, v2), torch.where(first_is_h, v2, v1)
    matrix = torch.stack([h, e, _unit(torch.linalg.cross(h, e))], dim=2)
    det = torch.linalg.det(matrix)
    ok = (weight.sum(1) >= MIN_TISSUE * p) & torch.isfinite(det) & (det.abs() > 1e-3)
    fallback = ruifrok_matrix(od.device, od.dtype).clone()
    fallback[:, 2] = _unit(torch.linalg.cross(fallback[:, 0], fallback[:, 1])[None])[0]
    return torch.where(ok[:, None, None], torch.nan_to_num(matrix), fallback)


def _perturb(chunk: torch.Tensor, sigma: float, rand: ShiftRandom, stains: str) -> torch.Tensor:
    import torch

    n, c, h, w = chunk.shape
    compute = torch.float64 if chunk.dtype == torch.float64 else torch.float32
    od = to_od(chunk.to(compute)).reshape(n, 3, h * w)
    matrix = macenko_matrices(od) if stains == "macenko" else ruifrok_matrix(od.device, compute).expand(n, 3, 3)
    u = rand.uniform((2, 3)).to(device=od.device, dtype=compute)
    alpha = 1.0 + sigma * (2.0 * u[:, 0] - 1.0)
    beta = sigma * (2.0 * u[:, 1] - 1.0)
    concentrations = torch.linalg.inv(matrix) @ od
    perturbed = concentrations * alpha[:, :, None] + beta[:, :, None]
    return from_od(matrix @ perturbed).reshape(n, c, h, w).to(chunk.dtype)


def stain(images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any = None) -> torch.Tensor:
    """Perturb H&E stain concentrations by ``σ = intensity`` (see module doc)."""
    if intensity == 0:
        return images
    stains = str((state or {}).get("stains", "macenko"))
    if stains not in ("macenko", "hed"):
        raise SpecError(f"stain: stains={stains!r} must be 'macenko' (per-image vectors) or 'hed' (Ruifrok's fixed).")
    if images.shape[1] != 3:
        raise SpecError(
            f"shift 'stain' needs RGB (3-channel) H&E images; got {images.shape[1]} channel(s). "
            "Use brightness/contrast/gamma for grey images."
        )
    return map_chunks(lambda chunk, rand: _perturb(chunk, float(intensity), rand, stains), images, random, 1 << 17)


SHIFTS = (
    ShiftSpec(
        name="stain",
        apply=stain,
        intensity_range=(0.0, 1.0),
        description=(
            "H&E stain augmentation: Macenko stain vectors per image (option stains=macenko|hed), concentrations "
            "scaled by U[1−σ, 1+σ] and shifted by U[−σ, σ] per stain (Tellez et al. 2018); intensity = σ."
        ),
        paper=TELLEZ_2018,
        defaults={"stains": "macenko"},
    ),
)
