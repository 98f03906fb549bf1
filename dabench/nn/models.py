"""Reusable networks: a LeNet-size CNN with BatchNorm, split into feature extractor and label predictor.

The split follows Ganin & Lempitsky (2015) (feature extractor G_f, label predictor G_y; DANN attaches a domain
classifier to G_f's output); BatchNorm layers make the same network usable by AdaBN (Li et al., 2016).
Parameters are initialised from an explicit generator, never the global RNG.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FeatureClassifier(nn.Module):
    """``classifier(features(x))``; ``feature_dim`` is the width of ``features``' output."""

    def __init__(self, features: nn.Module, classifier: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def lenet(
    in_channels: int, num_classes: int, input_hw: tuple[int, int], *, width: int = 32, hidden: int = 100
) -> FeatureClassifier:
    """Ganin's MNIST network: conv 5×5 ×``width`` → pool → conv 5×5 ×1.5·``width`` → pool → FC ``hidden`` → FC
    ``hidden`` → FC classes, with BatchNorm after every layer but the last. Inputs of 20 px or more use valid
    convolutions exactly as Ganin & Lempitsky (28×28 → 768 features); smaller ones (the 8×8 digits) use 'same'
    padding so the two poolings still fit."""
    h, w = input_hw
    pad = 0 if min(h, w) >= 20 else 2
    w2 = width + width // 2
    features = nn.Sequential(
        nn.Conv2d(in_channels, width, 5, padding=pad),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, w2, 5, padding=pad),
        nn.BatchNorm2d(w2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    out_h, out_w = ((h - 4 + 2 * pad) // 2 - 4 + 2 * pad) // 2, ((w - 4 + 2 * pad) // 2 - 4 + 2 * pad) // 2
    feature_dim = w2 * out_h * out_w
    if out_h < 1 or out_w < 1:
        raise ValueError(f"input {h}×{w} is too small for lenet: need at least 4×4 pixels")
    classifier = nn.Sequential(
        nn.Linear(feature_dim, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )
    return FeatureClassifier(features, classifier, feature_dim)


def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every conv/linear layer like PyTorch's default (Kaiming-uniform, a = √5), from ``generator``.
    Transposed convolutions too, with PyTorch's fan-in for them (``weight[0].numel()``: out-channels × kernel)."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
                fan_in = layer.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
                layer.reset_parameters()
                layer.reset_running_stats()
