"""``dabench sweep --executor dask``: one dask task per spec on a local cluster (2 worker processes, loopback only),
beside a plain local sweep on the same store — the store's claims keep every key to one execution."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from dabench.cli import main
from tests.tiny_sweeps import tiny_sweep

SEEDS = range(4)
SWEEP = tiny_sweep("dasky", len(SEEDS))
LINE = re.compile(r"^\[\d+/4\] (\w+)\s+source_only digits none seed=(\d+)", re.MULTILINE)
SUMMARY = re.compile(r"done: (\d+) ran, (\d+) cached, (\d+) busy-then-cached, 0 failed")


def test_dask_local_cluster_beside_a_local_sweep_runs_each_key_once(tmp_path: Path) -> None:
    path, store = tmp_path / "dasky.toml", tmp_path / "store"
    path.write_text(SWEEP)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "dabench", "sweep", str(path), "--store", str(store)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}
    dask = subprocess.Popen([*base, "--executor", "dask", "--jobs", "2"], **pipes)  # type: ignore[call-overload]
    assert dask.stdout is not None
    head = [dask.stdout.readline(), dask.stdout.readline()]  # the sweep line, then the cluster is up
    assert "dask: running on a local cluster of 2 worker processes" in head[1], head
    local = subprocess.Popen(base, **pipes)  # type: ignore[call-overload]
    (dask_out, dask_err), (local_out, local_err) = (p.communicate(timeout=180) for p in (dask, local))
    assert [dask.returncode, local.returncode] == [0, 0], dask_err + local_err
    ran = Counter(int(m.group(2)) for out in (dask_out, local_out) for m in LINE.finditer(out) if m.group(1) == "ok")
    assert ran == Counter(dict.fromkeys(SEEDS, 1)), (dask_out, local_out)  # every key executed exactly once
    summaries = [SUMMARY.search(out) for out in (dask_out, local_out)]
    assert all(summaries), (dask_out, local_out)
    assert sum(int(m.group(1)) for m in summaries if m) == len(SEEDS)
    records = [json.loads(p.read_text()) for p in store.glob("records/*/*.json")]
    assert len(records) == len(SEEDS) and all(r["status"] == "ok" for r in records)
    assert not list(store.glob("claims/*.claim"))
    assert "Traceback" not in dask_err


def test_missing_distributed_exits_2_saying_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    path = tmp_path / "dasky.toml"
    path.write_text(SWEEP)
    code = main(["sweep", str(path), "--store", str(tmp_path / "s"), "--executor", "dask"])
    _, err = capsys.readouterr()
    assert code == 2 and "install dabench[dask]" in err and "Traceback" not in err


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    from dabench.errors import SpecError
    from dabench.run.executors.dask import DaskExecutor

    with pytest.raises(SpecError, match=r"cannot reach the dask scheduler at 'tcp://127\.0\.0\.1:9'"):
        DaskExecutor(scheduler="tcp://127.0.0.1:9", timeout_s=0.5)
