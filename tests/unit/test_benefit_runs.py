"""Benefit predictors inside runs (``dabench.run.benefit``): what a predictor sees, what the record keeps, how a
spec names them (``RunSpec.predictors``) and how a sweep declares its plan (``[predictors]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dabench
from dabench.errors import SpecError, StoreError
from dabench.registry import build_registry
from dabench.run.benefit_plan import BenefitPlan, declare, parse_plan, read_plan
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench.run.sweepfile import expand
from dabench.runspec import RunSpec

SEEN: list[dabench.BenefitInputs] = []
CITE = dabench.Citation(authors="A Tester", title="A probe", year=2026)


def _probe(inputs: dabench.BenefitInputs) -> dabench.BenefitOutput:
    SEEN.append(inputs)
    return dabench.BenefitOutput(target_score=float(inputs.target.probs.max(axis=1).mean()), shift_score=1.0)


def _peer_probe(inputs: dabench.BenefitInputs) -> dabench.BenefitOutput:
    assert inputs.peer is not None
    agree = np.mean(inputs.peer.target_probs.argmax(1) == inputs.target.probs.argmax(1))
    return dabench.BenefitOutput(target_score=float(agree))


def _broken(inputs: dabench.BenefitInputs) -> dabench.BenefitOutput:
    raise SpecError("cannot estimate this")


class ProbePlugin:
    @dabench.hookimpl
    def register_benefit_predictors(self) -> list[dabench.BenefitPredictorSpec]:
        return [
            dabench.BenefitPredictorSpec(name="probe", fn=_probe, paper=CITE, estimates="accuracy"),
            dabench.BenefitPredictorSpec(name="peer_probe", fn=_peer_probe, paper=CITE, needs_peer=True),
            dabench.BenefitPredictorSpec(name="broken", fn=_broken, paper=CITE),
            dabench.BenefitPredictorSpec(
                name="seg_only", fn=_probe, paper=CITE, task_types=("segmentation",), needs_features=True
            ),
        ]


@pytest.fixture(scope="module")
def probe_registry() -> Any:
    return build_registry([("probe", ProbePlugin())], env={"DABENCH_PLUGINS": "core,adabn"})


def request(**kw: Any) -> RunRequest:
    base: dict[str, Any] = {
        "method": "source_only",
        "dataset": "digits",
        "shift": "noise:0.8",
        "params": {"epochs": 1},
        "n_bootstrap": 0,
        "metrics": ("accuracy",),
    }
    return RunRequest(**(base | kw))


def test_a_run_records_every_named_predictor_on_its_target(probe_registry: Any) -> None:
    SEEN.clear()
    spec = resolve(request(predictors=("probe", "peer_probe", "broken")), probe_registry)
    record = run(spec, probe_registry).to_record()
    benefit = record["benefit_predictors"]
    assert set(benefit["domains"]) == {"target"}
    assert set(benefit["domains"]["target"]) == {"probe", "peer_probe"}
    assert benefit["skipped"] == {"broken": "SpecError: cannot estimate this"}
    assert benefit["estimates"] == "accuracy" and benefit["source"]["metric"] == "accuracy"
    seen = SEEN[-1]
    assert not hasattr(seen.target, "labels")  # target labels do not exist for a predictor, by type
    # the target images are the target test split's images (its labels never reach the predictor)
    assert len(seen.target) == record["sizes"]["test_target"]
    assert len(seen.source) == record["sizes"]["test_source"]
    assert abs(benefit["source"]["score"] - record["metrics"]["source"]["accuracy"]["value"]) < 1e-9
    assert record["timings"]["predictors_s"] > 0 and record["timings"]["predictors_peer_fit_s"] > 0
    assert seen.source.features is not None and seen.source.features.shape[1] == 100  # LeNet's pre-ReLU hidden layer


def test_predictors_enter_the_key_only_when_named(probe_registry: Any) -> None:
    plain = resolve(request(), probe_registry)
    named = resolve(request(predictors=("probe",)), probe_registry)
    assert "predictors" not in plain.canonical()
    assert plain.key() != named.key()
    assert RunSpec.from_canonical(named.canonical()).key() == named.key()
    assert plain.key() == resolve(request(), probe_registry).key()


def test_all_expands_to_the_task_types_predictors(probe_registry: Any) -> None:
    spec = resolve(request(predictors=("all",)), probe_registry)
    assert [p.name for p in spec.predictors] == ["broken", "peer_probe", "probe"]  # not the segmentation one


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("prob",), "Did you mean .probe."),
        (("seg_only",), "is for segmentation tasks"),
        (("all", "probe"), "already names every predictor"),
    ],
)
def test_bad_predictor_names_are_clear_errors(probe_registry: Any, names: tuple[str, ...], message: str) -> None:
    with pytest.raises(dabench.DabenchError, match=message):
        resolve(request(predictors=names), probe_registry)


SWEEP: dict[str, Any] = {
    "grid": {"method": ["source_only", "adabn"], "dataset": ["digits"], "shift": ["noise:0.5"]},
    "options": {"n_bootstrap": 0},
    "predictors": {"compute": ["probe"], "method": ["adabn"], "validation": ["leave_one_shift_family_out"]},
}


def test_a_sweep_gives_predictors_to_the_source_only_runs_only(probe_registry: Any) -> None:
    specs = list(expand(SWEEP, probe_registry))
    named = {s.method.name: [p.name for p in s.predictors] for s in specs}
    assert named == {"source_only": ["probe"], "adabn": []}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": ["dann"]}, "which no grid runs"),
        ({"validation": ["leave_one_out"]}, "is not one of"),
        ({"validation": ["external"]}, "go together"),
        ({"epsilon": -1}, "epsilon must be a number >= 0"),
        ({"compute": []}, "non-empty list"),
        ({"typo": 1}, "unknown key"),
    ],
)
def test_bad_plans_are_refused_before_anything_runs(probe_registry: Any, change: dict[str, Any], message: str) -> None:
    data = SWEEP | {"predictors": SWEEP["predictors"] | change}
    with pytest.raises(SpecError, match=message):
        list(expand(data, probe_registry))


def test_a_store_keeps_its_first_declared_plan(tmp_path: Path) -> None:
    plan = parse_plan(SWEEP["predictors"], ["source_only", "adabn"])
    declare(tmp_path, plan)
    assert read_plan(tmp_path) == plan
    declare(tmp_path, plan)  # the same plan again: fine (a resumed sweep)
    other = BenefitPlan(compute=("probe",), methods=("adabn",), validation=("leave_one_dataset_out",))
    with pytest.raises(StoreError, match="already declares another"):
        declare(tmp_path, other)
