"""Model selection over checkpoints (``dabench.nn.checkpoints``, ``dabench.run.selection``): what a run keeps, how
each rule picks, and the leaderboard's side-by-side table."""

from __future__ import annotations

from typing import Any

import pytest

from dabench.errors import SpecError
from dabench.report.selection_table import render_selection
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run
from dabench.run.selection import rules_valid, select
from dabench.runspec import RunSpec

VALIDATORS = {"snd": True, "entropy": False}


def request(**kw: Any) -> RunRequest:
    base: dict[str, Any] = {
        "method": "source_only",
        "dataset": "digits",
        "shift": "gaussian_noise:0.3",
        "params": {"epochs": 4},
        "n_bootstrap": 50,
        "metrics": ("accuracy",),
    }
    return RunRequest(**(base | kw))


def test_a_run_keeps_and_scores_every_kth_epoch(registry: Any) -> None:
    spec = resolve(request(checkpoint_every=2), registry)
    assert (
        spec.canonical()["checkpoint_every"] == 2 and "checkpoint_every" not in resolve(request(), registry).canonical()
    )
    assert RunSpec.from_canonical(spec.canonical()).key() == spec.key()
    record = run(spec, registry).to_record()
    entries = record["checkpoints"]["entries"]
    assert [(e["label"], e["epoch"]) for e in entries] == [("epoch 2", 2), ("final", 4)]  # epoch 4 is the final model
    assert all(set(e["domains"]) == {"target"} for e in entries)  # selection is about the target, not the source
    final = entries[-1]["domains"]["target"]
    assert {"snd", "entropy", "ensv", "collapsed"} <= set(final["validators"])
    assert record["timings"]["checkpoints_s"] > 0
    again = run(spec, registry).to_record()["checkpoints"]
    assert again == record["checkpoints"]  # the same spec and seed give the same scores


def test_an_adapting_method_without_from_checkpoint_scores_only_its_final_model(registry: Any) -> None:
    from dabench.nn.checkpoints import Checkpoint
    from dabench.run.runner import _scoring
    from dabench.seeding import Seeds

    class Adapting:
        def source_predictor(self) -> Any:
            return self

    from types import SimpleNamespace

    kept = SimpleNamespace(items=[Checkpoint(epoch=2, predictor=object())])
    spec = resolve(request(checkpoint_every=2), registry)
    scoring = _scoring(spec, registry, None, Seeds(0), kept, Adapting())
    assert [label for label, _, _ in scoring.candidates] == ["final"]


def entry(label: str, epoch: int, acc: float, snd: float, entropy: float, collapsed: float = 0.0) -> dict[str, Any]:
    validators = {"snd": snd, "entropy": entropy, "ensv": acc, "collapsed": collapsed}
    metrics = {"accuracy": {"value": acc, "low": acc - 0.01, "high": acc + 0.01}}
    return {"label": label, "epoch": epoch, "domains": {"target": {"metrics": metrics, "validators": validators}}}


def record(entries: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    spec = {
        "method": {"name": "source_only", "version": "1"},
        "dataset": {"name": "digits", "version": "1"},
        "target": None,
        "shift": [{"name": "noise", "version": "1", "intensity": 0.5}],
        "metrics": [{"name": "accuracy", "version": "1"}],
        "params": {"epochs": 3},
        "protocol": "uda",
        "seed": seed,
        "n_bootstrap": 10,
        "schema": 2,
    }
    return {"status": "ok", "spec": spec, "checkpoints": {"entries": entries}}


RECORD = record(
    [
        entry("epoch 1", 1, 0.60, snd=9.0, entropy=0.1, collapsed=1.0),  # best SND and entropy, but collapsed
        entry("epoch 2", 2, 0.90, snd=3.0, entropy=0.9),
        entry("epoch 3", 3, 0.80, snd=4.0, entropy=0.5),
        entry("final", 3, 0.80, snd=4.0, entropy=0.5),
    ]
)


@pytest.mark.parametrize(
    ("rule", "label"),
    [("last", "final"), ("oracle", "epoch 2"), ("snd", "epoch 3"), ("entropy", "epoch 3"), ("ensv", "epoch 2")],
)
def test_each_rule_picks_by_its_direction_and_skips_collapsed_checkpoints(rule: str, label: str) -> None:
    picked = select(RECORD, rule, validators=VALIDATORS)
    assert picked is not None and picked.label == label and not picked.note


def test_a_rule_with_only_collapsed_checkpoints_falls_back_to_last() -> None:
    collapsed = record([entry("epoch 1", 1, 0.2, 1.0, 1.0, collapsed=1.0), entry("final", 1, 0.2, 1.0, 1.0, 1.0)])
    picked = select(collapsed, "snd", validators=VALIDATORS)
    assert picked is not None and picked.label == "final" and "fell back to last" in picked.note
    assert select({"status": "ok", "spec": RECORD["spec"]}, "snd", validators=VALIDATORS) is None


def test_unknown_rules_are_clear_errors() -> None:
    with pytest.raises(SpecError, match="unknown selection rule 'sdn'; valid rules: last, oracle, ensv, entropy"):
        rules_valid(["last", "sdn"], VALIDATORS)


def test_the_table_shows_every_rule_beside_the_oracle_with_its_gap() -> None:
    text = render_selection(
        [RECORD, record(RECORD["checkpoints"]["entries"], seed=1)],
        ["last", "snd", "oracle"],
        validators=VALIDATORS,
        higher_is_better={"accuracy": True},
    )
    assert "| last (gap)" in text and "oracle (target labels)" in text
    assert "| 0.800 (-0.100) | 0.800 (-0.100) | 0.900" in text and "| 2 " in text
    assert (
        render_selection([{"status": "ok", "spec": RECORD["spec"]}], ["last"], validators={}, higher_is_better={}) == ""
    )


def test_a_sweep_file_asks_every_run_for_checkpoints(registry: Any) -> None:
    from dabench.run.sweepfile import expand

    data: dict[str, Any] = {
        "grid": {"method": ["source_only"], "dataset": ["digits"]},
        "options": {"checkpoint_every": 2},
    }
    assert [s.checkpoint_every for s in expand(data, registry)] == [2]
    with pytest.raises(SpecError, match=r"options\.checkpoint_every: must be an integer >= 0"):
        list(expand(data | {"options": {"checkpoint_every": -1}}, registry))
    with pytest.raises(SpecError, match="checkpoint_every -1 is negative"):
        resolve(request(checkpoint_every=-1), registry)


def test_configurations_with_only_a_final_model_are_named_not_tabled() -> None:
    only_final = record([entry("final", 3, 0.5, 1.0, 1.0)])
    only_final["spec"]["method"]["name"] = "majority_class"
    text = render_selection([RECORD, only_final], ["last", "snd", "oracle"], validators=VALIDATORS, higher_is_better={})
    assert "Left out, with only their final model" in text and "majority_class" in text.split("Left out")[1]
    assert "| majority_class" not in text


@pytest.mark.parametrize("method", ["dann", "adabn"])
def test_dann_and_adabn_hand_over_their_own_checkpoints(registry: Any, method: str) -> None:
    record = run(resolve(request(method=method, checkpoint_every=2), registry), registry).to_record()
    entries = record["checkpoints"]["entries"]
    assert [e["label"] for e in entries] == ["epoch 2", "final"]
    final_score = entries[-1]["domains"]["target"]["metrics"]["accuracy"]["value"]
    assert 0.0 <= entries[0]["domains"]["target"]["metrics"]["accuracy"]["value"] <= 1.0 and final_score >= 0.0


def test_an_adabn_checkpoint_is_scored_adapted_not_as_its_source_model(registry: Any) -> None:
    source = run(resolve(request(checkpoint_every=2), registry), registry).to_record()["checkpoints"]["entries"][0]
    adabn = run(resolve(request(method="adabn", checkpoint_every=2), registry), registry).to_record()
    adapted = adabn["checkpoints"]["entries"][0]
    assert adapted["epoch"] == source["epoch"] == 2
    assert adapted["domains"]["target"]["metrics"] != source["domains"]["target"]["metrics"]


def test_the_table_tells_configurations_apart_and_does_not_fake_unscored_rules() -> None:
    import copy

    def segmentation(params: dict[str, Any], protocol: str) -> dict[str, Any]:
        r = copy.deepcopy(RECORD)
        r["spec"]["params"], r["spec"]["protocol"] = params, protocol
        for e in r["checkpoints"]["entries"]:
            e["domains"]["target"]["validators"] = {}  # segmentation: no validator scores
        return r

    records = [
        segmentation({"variant": "a", "epochs": 3}, "uda"),
        segmentation({"variant": "b", "epochs": 3}, "uda"),
        segmentation({"variant": "b", "epochs": 3}, "sda"),
    ]
    text = render_selection(records, ["last", "snd", "oracle"], validators=VALIDATORS, higher_is_better={})
    assert "source_only (variant=a) — " in text and "source_only (variant=b) — " in text and "epochs=" not in text
    assert ", protocol sda" in text and ", protocol uda" in text
    assert "| 0.800 (-0.100) | –" in text and "no checkpoint has a snd score" in text
    assert "fell back to last" not in text
