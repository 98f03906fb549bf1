"""Divergence is a failure, never ok: the training guard, every built-in loop, the runner's backstop on outputs, the
stored record and the CLI's exit code."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from dabench.errors import RunDiverged
from dabench.hookspecs import hookimpl
from dabench.nn.training import DivergenceGuard, check_finite, check_module_finite
from dabench.registry import build_registry
from dabench.run.execution import execute
from dabench.run.resolve import RunRequest, resolve
from dabench.run.store import ResultStore
from dabench.seeding import Seeds
from dabench.specs import Citation, MethodSpec
from dabench.testing import FAST_PARAMS, toy_task

REPO = Path(__file__).resolve().parents[2]
FAST = {"epochs": 1, "width": 8, "hidden": 16}


def test_guard_reports_the_first_bad_step_of_n() -> None:
    guard = DivergenceGuard(10)
    guard.check(torch.tensor(1.0), 0)
    with pytest.raises(RunDiverged, match=r"^diverged at step 2 of 10: loss is nan$") as info:
        guard.check(torch.tensor(float("nan")), 1)
    assert (info.value.step, info.value.total, info.value.detail) == (2, 10, "loss is nan")
    with pytest.raises(RunDiverged, match="step 5 of 7: loss is inf"):
        check_finite(torch.tensor(float("inf")), 4, 7)


def test_finish_names_the_non_finite_parameter_or_buffer() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    DivergenceGuard(3).finish(model)  # all finite: no error
    with torch.no_grad():
        model[1].running_var[0] = float("inf")
    with pytest.raises(RunDiverged, match=r"step 3 of 3: buffer '1.running_var' is not finite"):
        DivergenceGuard(3).finish(model)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(RunDiverged, match=r"^diverged: parameter '0.weight' is not finite"):
        check_module_finite(model)


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")],
        ),
    ],
)
def test_deferred_guard_syncs_every_k_steps_but_reports_the_exact_step(device: str) -> None:
    guard = DivergenceGuard(100, every=10, defer=True)  # the CUDA default; forced here to test it on CPU too
    losses = [torch.tensor(1.0, device=device)] * 13 + [torch.tensor(float("nan"), device=device)] * 3
    for step, loss in enumerate(losses[:10]):
        guard.check(loss, step)  # the first flush (after step 10) finds nothing
    for step, loss in enumerate(losses[10:], start=10):
        guard.check(loss, step)  # steps 11..16: bad from step 14 on, but no sync before step 20
    with pytest.raises(RunDiverged, match=r"^diverged at step 14 of 100: loss is nan$"):
        guard.finish()
    inf_guard = DivergenceGuard(4, every=2, defer=True)
    inf_guard.check(torch.tensor(float("-inf"), device=device), 0)
    with pytest.raises(RunDiverged, match=r"^diverged at step 1 of 4: loss is -inf$"):
        inf_guard.check(torch.tensor(float("nan"), device=device), 1)  # the flush after step 2


def _entmin_spec() -> MethodSpec:
    sys.path.insert(0, str(REPO / "examples" / "dabench-example-plugin"))
    try:
        import dabench_example

        return next(iter(dabench_example.register_methods()))
    finally:
        sys.path.remove(str(REPO / "examples" / "dabench-example-plugin"))


@pytest.mark.parametrize("name", ["source_only", "dann", "adabn", "entmin"])
def test_every_built_in_loop_raises_run_diverged(registry, name: str) -> None:  # type: ignore[no-untyped-def]
    spec = _entmin_spec() if name == "entmin" else registry.methods.get(name)
    params = {**spec.defaults, **{k: v for k, v in FAST_PARAMS.items() if k in spec.defaults}, "lr": 1e6}
    with pytest.raises(RunDiverged, match=r"^diverged at step \d+ of 3: "):
        spec.build(params).fit(toy_task(), seeds=Seeds(0), device=torch.device("cpu"))


def test_a_diverged_run_is_a_failed_record_with_strict_json(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    spec = resolve(
        RunRequest(method="source_only", dataset="synthetic", shift="noise:0.3", params={**FAST, "lr": 1e6}),
        registry,
    )
    store = ResultStore(tmp_path)
    outcome = execute(spec, registry, store)
    record = outcome.record
    assert outcome.status == "failed" and record["status"] == "failed" and record["failure"] == "diverged"
    assert record["error"].startswith("RunDiverged: diverged at step ") and record["error"].endswith(": loss is nan")
    assert record["divergence"]["total"] >= record["divergence"]["step"] >= 1
    assert json.loads(store.path(spec.key()).read_text()) == record
    assert store.completed(spec.key()) is None  # retried next time, never a cache hit


class NaNPredictor:
    """A third-party method without a divergence check: its fit 'succeeds' but every output is NaN."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: Any, *, seeds: object, device: torch.device) -> NaNPredictor:
        self.num_classes = task.num_classes
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((len(x), self.num_classes), float("nan"))


class Crashing(NaNPredictor):
    def fit(self, task: Any, *, seeds: object, device: torch.device) -> NaNPredictor:
        raise ZeroDivisionError("boom")


PLUGIN = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [
            MethodSpec(name=name, build=build, paper=Citation(authors="T", title=name, year=2024))
            for name, build in (("nanout", NaNPredictor), ("crash", Crashing))
        ]
    )
)


def test_runner_backstop_non_finite_outputs(tmp_path: Path) -> None:
    registry = build_registry([("nanout", PLUGIN)])
    spec = resolve(RunRequest(method="nanout", dataset="synthetic", shift="noise:0.3"), registry)
    outcome = execute(spec, registry, ResultStore(tmp_path))
    assert outcome.record["failure"] == "diverged"
    assert outcome.record["error"] in {
        f"RunDiverged: diverged: non-finite outputs on test domain {d!r}" for d in ("source", "target")
    }


def test_cli_diverged_exits_2_and_crash_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dabench.cli import main

    monkeypatch.setattr("dabench.cli.run.load_registry", lambda: build_registry([("nanout", PLUGIN)]))
    base = ["run", "--dataset", "synthetic", "--shift", "noise:0.3", "--store", str(tmp_path), "--n-bootstrap", "5"]
    code = main([*base, "--method", "source_only", "--set", "epochs=1", "--set", "width=8", "--set", "lr=1e6"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: run diverged at step ") and "(loss is nan); recorded as failed in " in err
    assert "Lower the learning rate (--set lr=...; it is 1000000.0)" in err and len(err.strip().splitlines()) == 1
    assert main([*base, "--method", "crash"]) == 1
    assert "ZeroDivisionError: boom" in capsys.readouterr().err
    records = [json.loads(p.read_text()) for p in tmp_path.glob("records/*/*.json")]
    assert sorted(r["failure"] for r in records) == ["diverged", "error"]
