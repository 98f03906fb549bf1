"""Shift diagnostics (``dabench.run.diagnostics``): unadapted model, latent distances, pixel baselines, entropy."""

from __future__ import annotations

import math

import numpy as np
import torch

from dabench.data import LabeledSplit
from dabench.run.diagnostics import DIAGNOSTICS, diagnose, mean_entropy, unadapted
from dabench.seeding import Seeds


class MeanFeatures:
    """A predictor whose latent features are each image's mean and standard deviation (and logits from the mean)."""

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.stack([flat.mean(1), flat.std(1)], dim=1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([m, -m], dim=1) * 10


class Adapting(MeanFeatures):
    def __init__(self) -> None:
        self.base = MeanFeatures()

    def source_predictor(self) -> MeanFeatures:
        return self.base


def images(offset: float, n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.3 + offset + 0.05 * torch.randn(n, 1, 8, 8, generator=g)).clamp(0, 1)


def split(x: torch.Tensor) -> LabeledSplit:
    return LabeledSplit(images=x, labels=torch.zeros(len(x), dtype=torch.int64)).without_labels()


def test_distances_grow_with_the_shift_and_are_zero_free_of_it() -> None:
    source = images(0.0, seed=1)
    unlabeled = {"near": split(images(0.003, seed=2)), "far": split(images(0.4, seed=3)), "unused": split(source)}
    out = diagnose(MeanFeatures(), source, unlabeled, ["source", "near", "far", "absent"], Seeds(0))
    assert set(out) == {"near", "far"}  # only test domains with unlabelled data; never "source"
    assert set(out["far"]) == set(DIAGNOSTICS)
    for name in DIAGNOSTICS:
        assert math.isfinite(out["far"][name])
    for name in ("latent_bhattacharyya", "latent_w2_gaussian", "latent_sliced_w2", "latent_mmd", "pixel_mean_diff"):
        assert out["far"][name] > out["near"][name], name
    assert abs(out["far"]["pixel_mean_diff"] - 0.4) < 0.05


def test_same_inputs_give_the_same_numbers() -> None:
    source = images(0.0, seed=1)
    unlabeled = {"t": split(images(0.2, seed=2))}
    assert diagnose(MeanFeatures(), source, unlabeled, ["t"], Seeds(3)) == diagnose(
        MeanFeatures(), source, unlabeled, ["t"], Seeds(3)
    )


def test_the_unadapted_model_is_used() -> None:
    adapting = Adapting()
    assert unadapted(adapting, images(0.0)) is adapting.base
    plain = MeanFeatures()
    assert unadapted(plain, images(0.0)) is plain


def test_without_latent_features_only_baselines_are_recorded() -> None:
    class NoLatent:
        def predict(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(x), 2)

    out = diagnose(NoLatent(), images(0.0), {"t": split(images(0.2))}, ["t"], Seeds(0))
    assert set(out["t"]) == {"pixel_mean_diff", "pixel_std_diff", "entropy"}
    assert out["t"]["entropy"] == np.float64(math.log(2)) or abs(out["t"]["entropy"] - math.log(2)) < 1e-12


def test_entropy_is_per_pixel_for_segmentation_logits() -> None:
    logits = torch.zeros(3, 4, 5, 5)
    assert abs(mean_entropy(logits) - math.log(4)) < 1e-12
    confident = torch.zeros(3, 2, 5, 5)
    confident[:, 0] = 50.0
    assert mean_entropy(confident) < 1e-10


def test_latent_with_logits_matches_latent_and_predict() -> None:
    from dabench.nn.models import init_parameters
    from dabench.nn.training import ModelPredictor
    from dabench.nn.unet import UNet

    model = UNet(1, 2, width=2, depth=2)
    init_parameters(model, torch.Generator().manual_seed(0))
    predictor = ModelPredictor(model, torch.device("cpu"))
    x = images(0.1, n=5)
    latent, logits = predictor.latent_with_logits(x)
    assert latent.shape == (5, 8)
    torch.testing.assert_close(latent, predictor.latent(x))
    torch.testing.assert_close(logits, predictor.predict(x))
