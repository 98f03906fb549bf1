"""The study's protocols: binarised masks, one 80/20 split per domain (the same whichever role the domain plays),
target masks only under SDA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import dabench
from dabench.run.datasource import DataSource
from dabench.run.protocols import ProtocolContext
from dabench.run.resolve import RunRequest, resolve
from dabench.seeding import Seeds
from dabench_mlan_study import _pooled_foreground, build_foreground

SOURCE, TARGET = (
    "perlin:mu1=0.3,mu2=0.7,size=16,n_train=20,n_test=5",
    "perlin:mu1=0.7,mu2=0.3,size=16,n_train=20,n_test=5",
)


def build(
    registry: Any, *, dataset: str = SOURCE, target: str | None = TARGET, sda: bool = False, seed: int = 0
) -> Any:
    protocol = "foreground_sda" if sda else "foreground_uda"
    request = RunRequest(method="source_only", dataset=dataset, target=target, protocol=protocol, seed=seed)
    spec = resolve(request, registry)
    ctx = ProtocolContext(
        registry=registry, data=DataSource(registry, None, Seeds(seed)), seeds=Seeds(seed), device=torch.device("cpu")
    )
    return build_foreground(spec, ctx, supervised=sda)


def test_each_domain_is_split_80_20_and_the_target_is_unlabelled(registry: Any) -> None:
    task, tests = build(registry)
    source_test, target_test = tests["source"](), tests["target"]()
    assert (len(task.source), len(source_test)) == (20, 5)  # 25 images pooled, 80/20
    assert len(task.unlabeled["target"]) == 20 and len(target_test) == 5
    assert not hasattr(task.unlabeled["target"], "labels") and task.target_labeled is None
    assert task.num_classes == 2 and task.task_type == "segmentation"
    train = {tuple(x.flatten().tolist()) for x in task.source.images}
    assert not any(tuple(x.flatten().tolist()) in train for x in source_test.images)  # disjoint


def test_a_domain_has_one_split_whatever_its_role(registry: Any) -> None:
    _, tests = build(registry)
    task_same, tests_same = build(registry, dataset=TARGET, target=TARGET)
    assert torch.equal(tests["target"]().images, tests_same["target"]().images)  # target-trained tests on them too
    assert torch.equal(task_same.source.images, task_same.unlabeled["target"].images)
    _, other_seed = build(registry, seed=1)
    assert not torch.equal(tests["target"]().images, other_seed["target"]().images)


def test_sda_hands_over_the_target_masks(registry: Any) -> None:
    task, _ = build(registry, sda=True)
    assert task.target_labeled is not None
    assert torch.equal(task.target_labeled.images, task.unlabeled["target"].images)
    assert set(task.target_labeled.labels.unique().tolist()) <= {0, 1}


def test_masks_are_binarised() -> None:
    images = torch.zeros(3, 3, 4, 4, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2]).view(3, 1, 1).expand(3, 4, 4).contiguous()
    split = dabench.LabeledSplit(images=images, labels=labels)
    pooled = _pooled_foreground(dabench.DatasetSplits(train=split, val=None, test=split, input_shape=(3, 4, 4)))
    assert pooled.labels[:, 0, 0].tolist() == [0, 1, 1, 0, 1, 1]


def test_it_needs_a_segmentation_target(registry: Any) -> None:
    with pytest.raises(dabench.SpecError, match="needs a target domain"):
        build(registry, target=None)
    with pytest.raises(dabench.SpecError, match="for segmentation datasets"):
        build(registry, dataset="digits", target="digits")


def test_the_target_trained_model_never_sees_its_test_images(registry: Any, tmp_path: Path) -> None:
    """maskfolder splits its pool with the loader's rng, which differs between the source and the target role: the
    target-trained run must still train and test on one split of the target."""
    from PIL import Image

    for folder in ("images", "masks"):
        (tmp_path / "cells" / folder).mkdir(parents=True)
    for i in range(20):
        Image.new("L", (8, 8), i * 10).save(tmp_path / "cells" / "images" / f"{i}.png")
        Image.new("L", (8, 8), i % 2).save(tmp_path / "cells" / "masks" / f"{i}.png")
    domain = f"maskfolder:path={tmp_path / 'cells'}"
    request = RunRequest(method="source_only", dataset=domain, target=domain, protocol="foreground_uda", seed=0)
    spec = resolve(request, registry)
    ctx = ProtocolContext(
        registry=registry, data=DataSource(registry, tmp_path, Seeds(0)), seeds=Seeds(0), device=torch.device("cpu")
    )
    task, tests = build_foreground(spec, ctx, supervised=False)
    seen = {round(float(x[0, 0, 0]) * 255) for x in task.source.images}
    tested = {round(float(x[0, 0, 0]) * 255) for x in tests["target"]().images}
    assert len(seen) == len(task.source) and len(tested) == len(tests["target"]()) >= 1 and not seen & tested
