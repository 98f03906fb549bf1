from __future__ import annotations

import json
import os
import socket
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dabench.errors import DabenchError, SpecError
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.run.claims import ClaimTable
from dabench.run.execution import execute, failed_record
from dabench.run.store import ResultStore
from dabench.run.sweep import Progress, count_outcomes, load_sweep, run_sweep
from dabench.specs import Citation, MethodSpec


class Exploding:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: object, **kwargs: object) -> object:
        raise FloatingPointError("loss became NaN")


class Invalid(Exploding):
    def fit(self, task: object, **kwargs: object) -> object:
        raise SpecError("a user mistake inside a sweep")


BOOM = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [
            MethodSpec(
                name=name, build=build, paper=Citation(authors="T", title="t", year=2024), defaults={"epochs": 1}
            )
            for name, build in (("boom", Exploding), ("invalid", Invalid))
        ]
    )
)

SWEEP = """
name = "tiny"
[grid]
method = ["source_only", "boom"]
dataset = ["synthetic"]
shift = ["noise:0.2", "noise:0.6"]
seed = [0]
[params]
epochs = 1
width = 8
hidden = 16
[options]
n_bootstrap = 10
"""


def test_sweep_runs_records_failures_and_resumes(tmp_path: Path) -> None:
    registry = build_registry([("boom", BOOM)])
    path = tmp_path / "s.toml"
    path.write_text(SWEEP)
    sweep = load_sweep(path, registry)
    assert len(sweep.specs) == 4 and sweep.name == "tiny"
    store = ResultStore(tmp_path / "store")
    seen = []
    outcomes = run_sweep(sweep, registry, store, data_root=None, device="cpu", on_progress=seen.append)
    assert sorted(o.status for o in outcomes) == ["failed", "failed", "ok", "ok"]
    failed = [o.record for o in outcomes if o.status == "failed"]
    assert all("FloatingPointError: loss became NaN" in r["error"] and r["failure"] == "error" for r in failed)
    assert [p.index for p in seen] == [1, 2, 3, 4] and seen[-1].eta_s == 0
    again = run_sweep(sweep, registry, store, data_root=None, device="cpu")
    assert sorted(o.status for o in again) == ["cached", "cached", "failed", "failed"]  # failures are retried
    assert count_outcomes(again).summary() == "0 ran, 2 cached, 0 busy-then-cached, 2 failed"
    assert not list((tmp_path / "store" / "claims").glob("*.claim"))  # every claim was released


THREE = """
name = "three"
[grid]
method = ["source_only"]
dataset = ["synthetic"]
shift = ["noise:0.2"]
seed = [0, 1, 2]
[params]
epochs = 1
width = 8
hidden = 16
[options]
n_bootstrap = 5
"""


@pytest.fixture
def three(tmp_path: Path, registry):  # type: ignore[no-untyped-def]
    path = tmp_path / "three.toml"
    path.write_text(THREE)
    return load_sweep(path, registry)


def test_a_user_error_in_a_sweep_is_an_invalid_failure(tmp_path: Path) -> None:
    registry = build_registry([("boom", BOOM)])
    path = tmp_path / "s.toml"
    path.write_text(SWEEP.replace('"boom"]', '"invalid"]'))
    outcomes = run_sweep(
        load_sweep(path, registry), registry, ResultStore(tmp_path / "s"), data_root=None, device="cpu"
    )
    invalid = [o.record for o in outcomes if o.status == "failed"]
    assert len(invalid) == 2 and all(r["failure"] == "invalid" and "SpecError" in r["error"] for r in invalid)


def test_an_unreadable_record_is_moved_aside_and_rerun(tmp_path: Path, registry, three) -> None:  # type: ignore[no-untyped-def]
    store = ResultStore(tmp_path / "store")
    run_sweep(three, registry, store, data_root=None, device="cpu")
    bad = store.path(three.specs[1].key())
    bad.write_text('{"key": "ab')
    seen: list[Progress] = []
    outcomes = run_sweep(three, registry, store, data_root=None, device="cpu", on_progress=seen.append)
    assert [o.status for o in outcomes] == ["cached", "ok", "cached"]
    assert store.completed(three.specs[1].key()) is not None
    moved = list((tmp_path / "store" / "unreadable").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(bad.name + ".") and moved[0].read_text() == '{"key": "ab'
    notes = [note for p in seen for note in p.outcome.notes]
    assert len(notes) == 1 and str(bad) in notes[0] and str(moved[0]) in notes[0]


def _hold(store: ResultStore, key: str) -> None:
    """Fake another live worker's claim on ``key`` (this host, a live pid that is not ours, fresh heartbeat)."""
    claims = ClaimTable(store.root)
    claims.folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    info = {"host": socket.gethostname(), "pid": os.getppid(), "token": "0" * 16, "started": now, "heartbeat": now}
    claims.path(key).write_text(json.dumps(info))


@pytest.mark.parametrize("other_result", ["ok", "failed"])
def test_busy_keys_are_deferred_then_reported_from_the_other_worker(  # type: ignore[no-untyped-def]
    tmp_path: Path, registry, three, other_result: str
) -> None:
    store = ResultStore(tmp_path / "store")
    busy_spec = three.specs[0]
    _hold(store, busy_spec.key())
    seen: list[Progress] = []

    def other_worker_finishes(p: Progress) -> None:
        seen.append(p)
        if p.index == 3:  # the sweep is about to wait: the other worker stores its result and releases its claim
            if other_result == "ok":
                ClaimTable(store.root).path(busy_spec.key()).unlink()
                assert execute(busy_spec, registry, store).status == "ok"
            else:
                store.put(failed_record(busy_spec, RuntimeError("it broke there")))
                ClaimTable(store.root).path(busy_spec.key()).unlink()

    outcomes = run_sweep(
        three, registry, store, data_root=None, device="cpu", on_progress=other_worker_finishes, poll_s=0.01
    )
    assert [(p.index, p.outcome.status) for p in seen][:4] == [
        (1, "busy"),
        (2, "ok"),
        (3, "ok"),
        (1, seen[3].outcome.status),
    ]
    first = outcomes[0]
    assert first.waited and first.status == ("cached" if other_result == "ok" else "failed")
    counts = count_outcomes(outcomes)
    assert (counts.ran, counts.cached, counts.waited, counts.failed) == (
        (2, 0, 1, 0) if other_result == "ok" else (2, 0, 0, 1)
    )
    assert seen[0].outcome.holder is not None and seen[0].outcome.holder.pid == os.getppid()


def test_a_dead_workers_claim_is_taken_over_and_run(tmp_path: Path, registry, three) -> None:  # type: ignore[no-untyped-def]
    store = ResultStore(tmp_path / "store")
    _hold(store, three.specs[2].key())
    path = ClaimTable(store.root).path(three.specs[2].key())
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "heartbeat": time.time() - 10_000}))  # its owner stopped beating long ago
    outcomes = run_sweep(three, registry, store, data_root=None, device="cpu")
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"] and not path.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nmethod = 'dann'", "must be a list"),
        ("[grid]\nmethods = ['dann']", "unknown grid keys"),
        ("[grid]\nmethod = ['dan']", "Did you mean 'dann'"),
        ("[grid]\nshift = ['noise:77']", "out of range"),
        ("[grid\n", "not valid TOML"),
        ("[grid]\nmethod = ['dann']\n[params.dann]\nepoch = 3", "Did you mean 'epochs'"),
        ("[grid]\nmethod = ['dann']\n[params]\nlearning_rate = 3", "no method in the grid has parameter"),
        ("[grid]\nmethod = ['dann']\n[grid.params]\nlr = 0.1", "must be a non-empty list"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, registry, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DabenchError, match=message):
        load_sweep(path, registry)


def test_missing_sweep_file(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match="does not exist"):
        load_sweep(tmp_path / "nope.toml", registry)


@pytest.mark.parametrize("command", ["sweep", "run"])
def test_cli_warns_moves_an_unreadable_record_aside_and_reruns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from dabench.cli import main

    sweep = tmp_path / "three.toml"
    sweep.write_text(THREE)
    store = tmp_path / "store"
    one = ["run", "--method", "source_only", "--dataset", "synthetic", "--shift", "noise:0.2", "--seed", "1"]
    one += ["--set", "epochs=1", "--set", "width=8", "--set", "hidden=16", "--n-bootstrap", "5", "--store", str(store)]
    argv = ["sweep", str(sweep), "--store", str(store)] if command == "sweep" else one
    assert main(argv) == 0
    records = sorted(store.glob("records/*/*.json"))
    assert len(records) == (3 if command == "sweep" else 1)
    bad = records[0]
    bad.write_text('{"key": "x", "metrics": NaN}')  # not strict JSON
    capsys.readouterr()
    assert main(argv) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(bad) in warnings[0] and "unreadable" in warnings[0], err
    assert len(list((store / "unreadable").iterdir())) == 1 and json.loads(bad.read_text())["status"] == "ok"
    if command == "sweep":
        assert "done: 1 ran, 2 cached, 0 busy-then-cached, 0 failed" in out
