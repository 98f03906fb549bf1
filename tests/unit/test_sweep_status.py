"""``dabench sweep FILE --status``: pending / running / done / failed read from the store and its claims."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dabench.run.claims import ClaimTable
from dabench.run.execution import failed_record
from dabench.run.store import ResultStore
from dabench.run.sweep import load_sweep
from dabench.run.sweep_status import sweep_status

SWEEP = """
name = "status"
[grid]
method = ["source_only"]
dataset = ["synthetic"]
shift = ["noise:0.2"]
seed = [0, 1, 2, 3, 4, 5, 6]
[params]
epochs = 1
"""


def _claim(store: Path, key: str, *, host: str, pid: int, age_s: float = 0.0) -> None:
    claims = ClaimTable(store)
    claims.folder.mkdir(parents=True, exist_ok=True)
    beat = time.time() - age_s
    info = {"host": host, "pid": pid, "token": "1" * 16, "started": beat - 5, "heartbeat": beat}
    claims.path(key).write_text(json.dumps(info))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def one_of_each(tmp_path: Path, registry):  # type: ignore[no-untyped-def]
    """A store with seed 0 done, 1 failed, 2 running here, 3 pending, 4 a dead pid's claim, 5 an unreadable
    record, 6 running on another host (a fresh heartbeat) while its earlier attempt's failed record is there."""
    path = tmp_path / "status.toml"
    path.write_text(SWEEP)
    sweep = load_sweep(path, registry)
    root = tmp_path / "store"
    store = ResultStore(root)
    specs = sweep.specs
    store.put({"key": specs[0].key(), "status": "ok", "spec": specs[0].canonical()})
    store.put(failed_record(specs[1], RuntimeError("it broke\nbadly")))
    _claim(root, specs[2].key(), host=socket.gethostname(), pid=os.getppid(), age_s=3)
    _claim(root, specs[4].key(), host=socket.gethostname(), pid=_dead_pid())
    store.path(specs[5].key()).parent.mkdir(parents=True, exist_ok=True)
    store.path(specs[5].key()).write_text('{"key": "trunc')
    store.put(failed_record(specs[6], RuntimeError("first attempt")))
    _claim(root, specs[6].key(), host="node-17", pid=4242, age_s=1)
    return path, sweep, store


def test_one_spec_in_each_state(one_of_each) -> None:  # type: ignore[no-untyped-def]
    _, sweep, store = one_of_each
    before = sorted(p.relative_to(store.root) for p in store.root.rglob("*"))
    status = sweep_status(sweep, store)
    states = [s.state for s in status.specs]
    assert states == ["done", "failed", "running", "pending", "pending", "pending", "running"]
    assert status.counts() == {"running": 2, "failed": 1, "pending": 3, "done": 1}
    assert status.summary() == "sweep status: 7 specs — 1 done, 2 running, 3 pending, 1 failed"
    details = [s.detail for s in status.specs]
    assert details[1] == "error: RuntimeError: it broke badly"
    assert details[2].startswith(f"host {socket.gethostname()}, pid {os.getppid()}, heartbeat 3 s ago")
    assert details[3] == ""
    assert details[4].startswith("stale claim (") and "owner is gone" in details[4]
    assert details[5].startswith("record unreadable (")
    assert details[6].startswith("host node-17, pid 4242, heartbeat 1 s ago")
    assert sorted(p.relative_to(store.root) for p in store.root.rglob("*")) == before  # nothing moved or written
    table = status.table().splitlines()
    assert [cell.strip() for cell in table[0].split("|")[1:-1]] == ["state", "key", "spec", "detail"]
    order = [row.split("|")[1].strip() for row in table[2:]]
    assert order == ["running", "running", "failed", "pending", "pending", "pending", "done"]


def test_cli_status_prints_the_summary_and_table_and_runs_nothing(  # type: ignore[no-untyped-def]
    one_of_each, capsys: pytest.CaptureFixture[str]
) -> None:
    from dabench.cli import main

    path, sweep, store = one_of_each
    assert main(["sweep", str(path), "--status", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sweep status: 7 specs — 1 done, 2 running, 3 pending, 1 failed ({store.root})")
    assert f"| running | {sweep.specs[6].key()[:12]} | source_only synthetic noise:0.2 seed=6" in out
    assert store.completed(sweep.specs[3].key()) is None  # pending stays pending: nothing ran
    assert ClaimTable(store.root).holder(sweep.specs[4].key()) is not None  # the stale claim is left for a sweep


def test_status_of_an_empty_store_is_all_pending(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "status.toml"
    path.write_text(SWEEP)
    status = sweep_status(load_sweep(path, registry), ResultStore(tmp_path / "nothing-here"))
    assert status.counts() == {"running": 0, "failed": 0, "pending": 7, "done": 0}
    assert not (tmp_path / "nothing-here").exists()
