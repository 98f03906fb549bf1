"""The ``backbone`` parameter: every method built on ``build_classifier`` (source_only, dann, adabn) trains the LeNet
or torchvision's ResNet-18; the default leaves run keys exactly as they were (a key-neutral parameter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dabench.errors import SpecError
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench.runspec import RunSpec


def request(method: str = "source_only", **params: Any) -> RunRequest:
    fast = {"epochs": 1, "batch_size": 32}
    return RunRequest(method=method, dataset="synthetic", shift="noise:0.3", params=fast | params, n_bootstrap=0)


def test_the_default_backbone_is_not_in_the_key(registry: Any) -> None:
    spec = resolve(request(), registry)
    assert spec.params["backbone"] == "lenet" and "backbone" not in spec.canonical()["params"]
    named = resolve(request(backbone="lenet"), registry)
    assert named.key() == spec.key()  # naming the default changes nothing
    resnet = resolve(request(backbone="resnet18"), registry)
    assert resnet.canonical()["params"]["backbone"] == "resnet18" and resnet.key() != spec.key()
    assert RunSpec.from_canonical(resnet.canonical()).key() == resnet.key()


@pytest.mark.parametrize("method", ["source_only", "dann", "adabn"])
def test_every_classification_method_trains_a_resnet18(registry: Any, method: str) -> None:
    record = run(resolve(request(method, backbone="resnet18"), registry), registry).to_record()
    assert record["status"] == "ok" and 0.0 <= record["metrics"]["target"]["accuracy"]["value"] <= 1.0


def test_bad_backbones_are_clear_errors(registry: Any, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="backbone='vgg' is not valid; use one of lenet, resnet18"):
        resolve(request(backbone="vgg"), registry)
    with pytest.raises(SpecError, match="is not a file"):
        resolve(request(backbone="resnet18", backbone_weights=str(tmp_path / "missing.pt")), registry)
