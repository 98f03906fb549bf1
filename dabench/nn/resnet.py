"""A reusable ResNet-18 backbone: torchvision's ``resnet18`` trained from scratch (nothing is ever downloaded), as
a feature extractor ``[N, C, H, W] -> [N, 512]`` for any classification method.

``resnet18_features`` is torchvision's network with its ``fc`` layer replaced by the identity, so the output is the
global-average-pooled ``layer4`` activation and the state-dict key names are torchvision's (minus ``fc.*``).
``in_channels != 3`` replaces ``conv1`` by a 7×7 stride-2 convolution with that many input channels.
:func:`resnet_trunk` builds the same for ``resnet34`` (the ResNet-34 U-Net's encoder, :mod:`dabench.nn.resnet_unet`)
with the same seeding and ``weights`` rules (a torchvision ``resnet34`` state dict then).

Initialisation is seeded: the network is built inside :func:`torch.random.fork_rng` with the CPU generator seeded
from ``seed`` (pass ``seeds.int("init")`` of the run's :class:`~dabench.Seeds`), so the same seed gives the same
weights and the global RNG's state is left as it was.

``weights=PATH`` loads a local state dict saved with ``torch.save(torchvision.models.resnet18().state_dict(),
PATH)`` (``torch.load(..., map_location="cpu", weights_only=True)``; a checkpoint dict holding it under
``"state_dict"`` works too; ``fc.*`` keys are ignored; a missing ``num_batches_tracked`` is kept from the fresh
model). For a 1-channel backbone, a 3-channel ``conv1.weight`` is summed over its input channels — exactly the
3-channel network applied to the grey image repeated three times. A missing or unreadable file, missing or
unexpected keys and shape mismatches are a :class:`~dabench.errors.SpecError` saying what was wrong and what to do.

Small inputs. The network downsamples by 32 (conv1 and max-pool: 4×, layers 2–4: 2× each, rounding up), then
pools globally, so any input size works: 224 px → 7×7 after ``layer4``, 64 px → 2×2, 32 px → 1×1, 12 px → 1×1
(below 32 px the last stages see a single position, so they act as per-image MLPs with 3×3 convolutions reduced to
their centre tap on zero padding). Once ``layer4`` is 1×1, BatchNorm in training mode needs at least two images
per batch (PyTorch refuses a single value per channel).

References
----------
He, Zhang, Ren & Sun (2016), Deep Residual Learning for Image Recognition, CVPR (ResNet-18).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dabench.errors import SpecError
from dabench.nn.models import FeatureClassifier, init_parameters

#: width of the pooled ``layer4`` output
FEATURE_DIM = 512
#: the torchvision architectures :func:`resnet_trunk` builds (BasicBlock networks: same stage widths)
ARCHITECTURES = ("resnet18", "resnet34")


def _save_hint(arch: str) -> str:
    return (
        f"save one with torch.save(torchvision.models.{arch}(weights=None).state_dict(), PATH) (torchvision key "
        "names; fc.* keys are ignored), or leave weights empty to train from scratch"
    )


def resnet18_features(in_channels: int, *, weights: str = "", seed: int = 0) -> tuple[nn.Module, int]:
    """torchvision's ResNet-18 without ``fc``: ``[N, in_channels, H, W] -> [N, 512]`` (see the module docstring);
    initialised from ``seed``, then loaded from ``weights`` when a path is given. Returns ``(module, 512)``."""
    return resnet_trunk("resnet18", in_channels, weights=weights, seed=seed), FEATURE_DIM


def resnet_trunk(arch: str, in_channels: int, *, weights: str = "", seed: int = 0) -> nn.Module:
    """torchvision's ``arch`` (one of :data:`ARCHITECTURES`) with ``fc`` replaced by the identity, built and
    initialised from ``seed`` as :func:`resnet18_features` (which is ``resnet_trunk("resnet18", ...)``), then loaded
    from ``weights`` when a path is given (a local torchvision ``arch`` state dict; see the module docstring)."""
    from torchvision import models

    if arch not in ARCHITECTURES:
        raise SpecError(f"ResNet architecture {arch!r} is not available; use one of {', '.join(ARCHITECTURES)}.")
    if in_channels < 1:
        raise SpecError(f"{arch}: in_channels={in_channels} is not valid; images have at least one channel.")
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))  # CPU only: CUDA generators are not touched
        net = getattr(models, arch)(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")  # torchvision's init
    net.fc = nn.Identity()
    if weights:
        load_resnet_weights(net, weights, arch=arch)
    return net


def resnet18_classifier(
    in_channels: int, num_classes: int, *, weights: str = "", seed: int = 0, head_seed: int = 1
) -> FeatureClassifier:
    """:func:`resnet18_features` with a linear label predictor ``512 -> num_classes`` (initialised like PyTorch's
    default from ``head_seed``), as a :class:`~dabench.nn.models.FeatureClassifier` for any classification method."""
    features, dim = resnet18_features(in_channels, weights=weights, seed=seed)
    head = nn.Linear(dim, num_classes)
    init_parameters(head, torch.Generator().manual_seed(int(head_seed)))
    return FeatureClassifier(features, head, dim)


def _read_state_dict(path: Path, shown: str, arch: str = "resnet18") -> dict[str, torch.Tensor]:
    hint = _save_hint(arch)
    if not path.is_file():
        raise SpecError(f"{arch} weights={shown!r}: no such file. Give the path of a local state dict; {hint}.")
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is the user's mistake, reported as such
        raise SpecError(
            f"{arch} weights={shown!r} could not be read as a PyTorch state dict ({type(exc).__name__}: {exc}); {hint}."
        ) from exc
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpecError(
            f"{arch} weights={shown!r} holds a {type(state).__name__}, not a state dict of tensors; {hint}."
        )
    return {str(k): v for k, v in state.items() if not str(k).startswith("fc.")}


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def load_resnet18_weights(net: nn.Module, weights: str) -> None:
    """Load a torchvision ``resnet18`` state dict from the local file ``weights`` into ``net`` (a
    :func:`resnet18_features` module); see the module docstring for what is accepted."""
    load_resnet_weights(net, weights, arch="resnet18")


def load_resnet_weights(net: nn.Module, weights: str, *, arch: str) -> None:
    """Load a torchvision ``arch`` state dict from the local file ``weights`` into ``net`` (a :func:`resnet_trunk`
    module of that architecture), with the checks and the 1-channel rule of the module docstring."""
    state = _read_state_dict(Path(weights).expanduser(), weights, arch)
    expected = net.state_dict()
    missing = sorted(k for k in set(expected) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {_listing(missing)}"] if missing else []) + (
            [f"unexpected {_listing(unexpected)}"] if unexpected else []
        )
        raise SpecError(
            f"{arch} weights={weights!r} does not have torchvision {arch}'s keys ({'; '.join(parts)}); "
            f"{_save_hint(arch)}."
        )
    conv1 = state.get("conv1.weight")
    channels = int(expected["conv1.weight"].shape[1])
    if conv1 is not None and channels == 1 and conv1.dim() == 4 and conv1.shape[1] == 3:
        state["conv1.weight"] = conv1.sum(dim=1, keepdim=True)
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise SpecError(
            f"{arch} weights={weights!r} has tensors of the wrong shape: {_listing(wrong)}. The backbone has "
            f"{channels} input channel(s); use weights saved for that many (3-channel weights load into a 1-channel "
            "backbone, other mismatches do not)."
        )
    net.load_state_dict({**expected, **state}, strict=True)
