"""The BN-adaptation study's protocols: ``perlin_grid`` (a source setting, 20 target cells built on demand) and
``shift_grid`` (one shift over a grid, disjoint labelled / unlabelled halves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from dabench import AdaptationTask, LabeledSplit, SpecError, UnlabeledSplit
from dabench.registry import Registry, build_registry
from dabench.run.datasource import DataSource
from dabench.run.protocols import ProtocolContext
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench.run.sweepfile import load_sweep
from dabench.runspec import RunSpec
from dabench.seeding import Seeds
from dabench_bn_study.lazy import BoundedCache, LazyUnlabeled
from dabench_bn_study.protocols import PAPER_GRID, cell_domain

ROOT = Path(__file__).resolve().parents[3]
TINY = "size=16,n_train=32,n_test=8,cells=2"
CELL = "mu1=0.1,mu2=0.3"


def _spec(registry: Registry, dataset: str, **kw: Any) -> RunSpec:
    request = {"method": "majority_class", "protocol": "perlin_grid", "n_bootstrap": 0, "metrics": ("dice",), **kw}
    return resolve(RunRequest(dataset=dataset, **request), registry)


def _build(registry: Registry, spec: RunSpec) -> tuple[AdaptationTask, dict[str, Any]]:
    seeds = Seeds(spec.seed)
    ctx = ProtocolContext(
        registry=registry, data=DataSource(registry, None, seeds), seeds=seeds, device=torch.device("cpu")
    )
    task, tests = registry.protocols.get(spec.protocol).build(spec, ctx)
    return task, dict(tests)


def test_perlin_grid_domains_and_lazy_cells(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = registry.protocols.get("perlin_grid")
    assert registry.protocols.providers["perlin_grid"] == "bn_study" and protocol.diagnostics
    loads: list[str] = []
    original = DataSource.load

    def counting(self: DataSource, ref: Any) -> Any:
        loads.append(str(ref))
        return original(self, ref)

    monkeypatch.setattr(DataSource, "load", counting)
    spec = _spec(registry, f"perlin:mu1=0.7,mu2=0.3,{TINY}")
    assert spec.test_intensities == PAPER_GRID
    task, tests = _build(registry, spec)
    assert len(loads) == 1  # the source only: no cell is generated before it is asked for
    assert list(tests)[:3] == ["source", "mu1=0.1,mu2=0.3", "mu1=0.1,mu2=0.5"] and len(tests) == 21
    assert isinstance(task.unlabeled, LazyUnlabeled) and list(task.unlabeled) == list(tests)[1:]
    assert "mu1=0.3,mu2=0.3" not in tests and "mu1=0.9,mu2=0.7" in task.unlabeled and "source" not in task.unlabeled
    assert task.adapt_domain in task.unlabeled and task.task_type == "segmentation" and len(task.source) == 32
    assert len(loads) == 1
    first, again = task.unlabeled[CELL], task.unlabeled[CELL]
    assert len(loads) == 2 and isinstance(first, UnlabeledSplit) and not hasattr(first, "labels")
    assert torch.equal(first.images, again.images) and first.images.shape == (32, 1, 16, 16)
    assert float(first.images.max()) <= 1.0 and first.images.dtype == torch.float32
    test = tests[CELL]()
    assert len(loads) == 2 and isinstance(test, LabeledSplit) and test.labels.shape == (8, 16, 16)
    other = task.unlabeled["mu1=0.9,mu2=0.1"].images
    assert not torch.equal(other, first.images)
    assert float(other.mean()) > float(first.images.mean()) + 0.2  # mean mask/background intensities replaced
    with pytest.raises(KeyError):
        task.unlabeled["source"]


def test_cell_domain_keeps_the_source_options() -> None:
    assert cell_domain(f"{TINY},mu2=0.4,mu1=0.6", 0.1, 0.9) == "mu1=0.1,mu2=0.9,cells=2,n_test=8,n_train=32,size=16"
    assert cell_domain("sigma=0.1,mu1=0.3", 0.5, 0.7) == "mu1=0.5,mu2=0.7"  # default options left out


def test_target_cells_identical_across_source_settings(registry: Registry) -> None:
    a_task, a_tests = _build(registry, _spec(registry, f"perlin:mu1=0.7,mu2=0.3,{TINY}", seed=3))
    b_task, b_tests = _build(registry, _spec(registry, f"perlin:{TINY},mu2=0.7,mu1=0.3", seed=3))
    assert not torch.equal(a_task.source.images, b_task.source.images)
    for cell in (CELL, "mu1=0.7,mu2=0.3"):
        assert torch.equal(a_task.unlabeled[cell].images, b_task.unlabeled[cell].images)
        assert torch.equal(a_tests[cell]().labels, b_tests[cell]().labels)
    # the cell equal to source setting a is a draw of its own, not a's training images
    assert not torch.equal(a_task.unlabeled["mu1=0.7,mu2=0.3"].images, a_task.source.images)
    c_task, _ = _build(registry, _spec(registry, f"perlin:mu1=0.7,mu2=0.3,{TINY}", seed=4))
    assert not torch.equal(c_task.unlabeled[CELL].images, a_task.unlabeled[CELL].images)


def test_perlin_grid_rejects_bad_requests(registry: Registry) -> None:
    with pytest.raises(SpecError, match="Perlin source setting"):
        _spec(registry, "synthetic")
    with pytest.raises(SpecError, match=r"\[0, 1\]"):
        _spec(registry, f"perlin:{TINY}", test_intensities=(0.5, 1.5))
    with pytest.raises(SpecError, match="at least 2 different values"):
        _spec(registry, f"perlin:{TINY}", test_intensities=(0.5, 0.5))
    with pytest.raises(SpecError, match="--shift does not apply"):
        _spec(registry, f"perlin:{TINY}", shift="brightness:0.2")
    with pytest.raises(SpecError, match="unknown domain option"):
        _spec(registry, "perlin:mu3=0.2")
    assert _spec(registry, f"perlin:{TINY}", test_intensities=(0.7, 0.2)).test_intensities == (0.2, 0.7)
    assert _spec(registry, f"perlin:{TINY}", shift="none").shift == ()  # a sweep's default shift axis


@pytest.mark.parametrize("name", ["bn_perlin", "bn_perlin_gpu", "bn_isbi"])
def test_study_sweep_files_resolve(registry: Registry, name: str) -> None:
    sweep = load_sweep(ROOT / "sweeps" / f"{name}.toml", registry)
    protocols = {spec.protocol for spec in sweep.specs}
    assert protocols == ({"shift_grid"} if name == "bn_isbi" else {"perlin_grid"})
    assert {spec.method.name for spec in sweep.specs} == {"source_only", "adabn"}
    assert all(spec.params["weight_decay"] == 0 and spec.seed in (0, 1, 2) for spec in sweep.specs)
    assert "foreground_fraction" in {m.name for m in sweep.specs[0].metrics}


def test_perlin_grid_run_end_to_end(registry: Registry) -> None:
    spec = _spec(registry, f"perlin:mu1=0.7,mu2=0.3,{TINY}", metrics=("dice", "pixel_accuracy"))
    result = run(spec, registry)
    assert len(result.metrics) == 21 and set(result.metrics["mu1=0.9,mu2=0.1"]) == {"dice", "pixel_accuracy"}
    assert result.sizes["test_mu1=0.3,mu2=0.7"] == 8 and result.sizes["unlabeled_mu1=0.3,mu2=0.7"] == 32
    assert set(result.diagnostics) == set(result.metrics) - {"source"}  # ProtocolSpec.diagnostics, every cell
    far, near = result.diagnostics["mu1=0.1,mu2=0.3"], result.diagnostics["mu1=0.7,mu2=0.5"]
    assert far["pixel_mean_diff"] > near["pixel_mean_diff"]  # source (0.7, 0.3): mean 0.5 vs 0.2 and 0.6


def test_shift_grid_disjoint_halves_and_shifted_pool(registry: Registry) -> None:
    spec = _spec(
        registry, f"perlin:{TINY}", protocol="shift_grid", shift="brightness", test_intensities=(0.3, 0.0, -0.3)
    )
    assert spec.test_intensities == (-0.3, 0.0, 0.3) and spec.shift[0].name == "brightness"
    task, tests = _build(registry, spec)
    assert list(tests) == ["source", "test@-0.3", "test@0", "test@0.3"] and list(task.unlabeled) == list(tests)[1:]
    seeds = Seeds(spec.seed)
    train = DataSource(registry, None, seeds).load(spec.dataset).train.images.float().div(255.0)
    labelled, pool = task.source.images, task.unlabeled["test@0"].images
    assert len(labelled) + len(pool) == len(train) == 32 and abs(len(labelled) - len(pool)) <= 1
    rows = {bytes(x.numpy().tobytes()) for x in labelled}
    assert not rows & {bytes(x.numpy().tobytes()) for x in pool}
    assert rows | {bytes(x.numpy().tobytes()) for x in pool} == {bytes(x.numpy().tobytes()) for x in train}
    assert float(task.unlabeled["test@0.3"].images.mean()) > float(pool.mean()) + 0.2
    clean, bright = tests["source"](), tests["test@0.3"]()
    assert float(bright.images.mean()) > float(clean.images.mean()) + 0.2 and torch.equal(bright.labels, clean.labels)
    result = run(spec, registry)
    assert list(result.metrics) == list(tests) and result.sizes["unlabeled_test@0.3"] == len(pool)


def test_shift_grid_moves_masks_with_a_geometric_shift(registry: Registry) -> None:
    dataset = f"perlin:mu1=0.9,mu2=0.1,sigma=0.0,{TINY}"
    spec = _spec(registry, dataset, protocol="shift_grid", shift="random_resized_crop", test_intensities=(0.0, 0.6))
    _, tests = _build(registry, spec)
    clean, cropped = tests["test@0"](), tests["test@0.6"]()
    assert torch.equal(clean.labels, tests["source"]().labels) and not torch.equal(cropped.labels, clean.labels)
    images, masks = cropped.images[:, 0], cropped.labels
    assert float(images[masks == 1].mean()) > float(images[masks == 0].mean()) + 0.5  # masks follow their images


def test_shift_grid_rejects_bad_requests(registry: Registry) -> None:
    def grid(**kw: Any) -> RunSpec:
        return _spec(registry, f"perlin:{TINY}", protocol="shift_grid", **kw)

    with pytest.raises(SpecError, match="one shift by name"):
        grid(test_intensities=(0.1,))
    with pytest.raises(SpecError, match="one shift by name"):
        grid(shift="brightness+gamma", test_intensities=(0.1,))
    with pytest.raises(SpecError, match="give --test-intensities"):
        grid(shift="brightness")
    with pytest.raises(SpecError, match="out of range"):
        grid(shift="brightness", test_intensities=(0.1, 2.0))
    with pytest.raises(SpecError, match="--intensity does not apply"):
        grid(shift="brightness", intensity=0.2, test_intensities=(0.1,))


def test_bounded_cache_keeps_values_within_budget() -> None:
    cache = BoundedCache(lambda name: name * 10, len, max_bytes=25)
    for _ in range(3):  # cyclic scans, as a run makes them: "a" and "b" fit and stay, "c" / "d" take turns
        assert [cache.get(n) for n in "abcd"] == [n * 10 for n in "abcd"]
    assert cache.builds == 2 + 2 * 3
    cache.get("d")
    assert cache.builds == 8  # the most recent value is kept too
    huge = BoundedCache(lambda name: name * 100, len, max_bytes=1)
    assert huge.get("x") == huge.get("x") and huge.builds == 1  # whatever its size


def test_cli_runs_perlin_grid_and_rejects_a_bad_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dabench.cli import main

    if "perlin_grid" not in build_registry().protocols.providers:
        pytest.skip("the bn_study plugin is not installed (pip install -e .)")
    common = ["run", "--method", "majority_class", "--protocol", "perlin_grid", "--n-bootstrap", "0"]
    store = ["--store", str(tmp_path / "runs"), "--metrics", "dice", "--test-intensities", "0.3,0.7"]
    assert main([*common, "--dataset", f"perlin:{TINY}", *store]) == 0
    assert "mu1=0.3,mu2=0.7" in capsys.readouterr().out
    assert main([*common, "--dataset", "digits", *store]) == 2
    assert "Perlin source setting" in capsys.readouterr().err
