from __future__ import annotations

import json
import os
import socket
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

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

    def fit(self, task: object, *, seeds: object, device: object) -> NoReturn:
        raise FloatingPointError("loss became NaN")


class Invalid(Exploding):
    def fit(self, task: object, *, seeds: object, device: object) -> NoReturn:
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
    seen: list[Progress] = []
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


def test_worker_i_runs_on_gpu_i_div_k() -> None:
    from dabench.run.executors.pool import gpu_for_worker, plan_workers

    assert [gpu_for_worker(i, 2, 3) for i in range(6)] == [0, 0, 1, 1, 2, 2]
    assert [gpu_for_worker(i, 1, 2) for i in range(4)] == [0, 1, 0, 1]  # more workers than K x GPUs: wrap around
    with pytest.raises(ValueError, match="runs_per_gpu >= 1"):
        gpu_for_worker(0, 0, 1)
    plans = plan_workers(4, 3, runs_per_gpu=2, gpus=["5", "7"])
    assert [(p.index, p.threads, p.cuda_visible) for p in plans] == [(0, 3, "5"), (1, 3, "5"), (2, 3, "7"), (3, 3, "7")]
    assert {p.cuda_visible for p in plan_workers(2, 1)} == {None}


def test_pool_sizes_jobs_threads_and_devices() -> None:
    from dabench.run.executors.pool import PoolExecutor
    from dabench.run.worker import WorkOptions

    gpu = PoolExecutor(runs_per_gpu=3, gpus=["0", "1"], threads=2)
    assert gpu.jobs == gpu.parallelism == 6  # --jobs defaults to K x GPUs
    assert gpu.worker_options(WorkOptions(store="s", device="cpu")) == WorkOptions(
        store="s", device="cuda:0", threads=2
    )
    cpu = PoolExecutor(2)
    assert cpu.jobs == 2 and cpu.threads >= 1
    assert cpu.worker_options(WorkOptions(store="s")).device == "cpu"
    with pytest.raises(SpecError, match="--runs-per-gpu needs CUDA devices"):
        PoolExecutor(runs_per_gpu=1, gpus=[])
    with pytest.raises(SpecError, match="--jobs 0"):
        PoolExecutor(0)


def test_worker_initializer_pins_threads_and_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from dabench.run.executors.pool import THREAD_VARS, WorkerPlan, describe_exit, init_worker

    for var in (*THREAD_VARS, "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)
    import signal

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        init_worker(WorkerPlan(0, 1, "2"))
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # Ctrl-C is the parent's to handle
        with pytest.raises(SystemExit):  # SIGTERM ends a run like an interrupt (its claim is released)
            signal.raise_signal(signal.SIGTERM)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2" and all(os.environ[v] == "1" for v in THREAD_VARS)
    assert describe_exit(-9) == "killed by signal 9 (SIGKILL)"
    assert describe_exit(3) == "its process exited with status 3" and "unknown" in describe_exit(None)


def test_executor_lookup() -> None:
    from dabench.run.executors import Executor, executor_class
    from dabench.run.executors.local import LocalExecutor
    from dabench.run.executors.pool import PoolExecutor

    assert executor_class("local") is LocalExecutor and executor_class("pool") is PoolExecutor
    with pytest.raises(SpecError, match="unknown executor 'pol'; valid executors: local, pool"):
        executor_class("pol")
    assert issubclass(LocalExecutor, Executor) and LocalExecutor().parallelism == 1


def test_a_sweep_through_the_pool_executor_matches_the_local_one(tmp_path: Path, registry, three) -> None:  # type: ignore[no-untyped-def]
    from dabench.run.executors.pool import PoolExecutor

    local = run_sweep(three, registry, ResultStore(tmp_path / "a"), data_root=None, device="cpu")
    seen: list[Progress] = []
    with PoolExecutor(2, threads=1) as pool:
        pooled = run_sweep(
            three,
            registry,
            ResultStore(tmp_path / "b"),
            data_root=None,
            device="cpu",
            executor=pool,
            on_progress=seen.append,
        )
    assert [o.status for o in pooled] == ["ok", "ok", "ok"] and sorted(p.index for p in seen) == [1, 2, 3]
    assert [o.record["metrics"] for o in pooled] == [o.record["metrics"] for o in local]  # same numbers
    cached = run_sweep(three, registry, ResultStore(tmp_path / "b"), data_root=None, device="cpu", executor=pool)
    assert [o.status for o in cached] == ["cached"] * 3  # finished keys never reach the executor


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--executor", "local", "--jobs", "2"], "--executor local runs in this process"),
        (["--executor", "nope"], "unknown executor 'nope'"),
    ],
)
def test_cli_sweep_executor_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    from dabench.cli import main

    sweep = tmp_path / "three.toml"
    sweep.write_text(THREE)
    assert main(["sweep", str(sweep), "--store", str(tmp_path / "s"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_dead_pids_fresh_claim_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: its pid is dead (a killed pool worker is reaped before its spec is handed out again)
    claims = ClaimTable(tmp_path, timeout_s=3600)  # the heartbeat is fresh: only the dead pid makes it stale
    claims.folder.mkdir(parents=True)
    now = time.time()
    info = {"host": socket.gethostname(), "pid": proc.pid, "token": "2" * 16, "started": now, "heartbeat": now}
    claims.path("k" * 64).write_text(json.dumps(info))
    started = time.perf_counter()
    claim = claims.acquire("k" * 64)
    assert claim is not None and claim.info.pid == os.getpid() and time.perf_counter() - started < 1
    claim.release()
