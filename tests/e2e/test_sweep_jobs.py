"""``dabench sweep --jobs N``: worker processes, and a worker killed mid-run loses only its own run (retried once,
then recorded failed); ``--runs-per-gpu`` on a CUDA machine (``gpu`` marker)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from dabench.run.sweep import load_sweep
from tests.tiny_sweeps import tiny_sweep

SEEDS = range(3)
SWEEP = tiny_sweep("jobs", len(SEEDS), shift="noise:0.5")
LINE = re.compile(r"^\[\d+/3\] (\w+)\s+source_only digits noise:0\.5 seed=(\d+)(.*)$")


def _sweep(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "jobs.toml"
    path.write_text(SWEEP)
    command = [sys.executable, "-m", "dabench", "sweep", str(path), "--store", str(tmp_path / "store"), *extra]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=300)


def _final_lines(out: str) -> dict[int, tuple[str, str]]:
    """seed -> (status, rest of its line), for every result line."""
    lines = [m for m in map(LINE.match, out.splitlines()) if m]
    assert Counter(int(m.group(2)) for m in lines) == Counter(dict.fromkeys(SEEDS, 1)), out  # one line per spec
    return {int(m.group(2)): (m.group(1), m.group(3)) for m in lines}


def test_a_killed_worker_loses_only_its_run_which_is_retried_then_recorded_failed(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "jobs.toml").write_text(SWEEP)
    keys = [spec.key() for spec in load_sweep(tmp_path / "jobs.toml", registry).specs]
    # seed 1's worker is killed once (then it runs), seed 2's twice (then it is recorded failed); seed 0 runs beside
    once, twice = keys[1], keys[2]
    kills = tmp_path / "kills"
    env = {"DABENCH_TEST_KILL_KEY": f"{once}:1,{twice}:2", "DABENCH_TEST_KILL_DIR": str(kills)}
    proc = _sweep(tmp_path, "--jobs", "2", env=env)
    assert proc.returncode == 1, proc.stderr  # 1: the twice-killed run failed
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in kills.iterdir()) == sorted([f"{once}.0", f"{twice}.0", f"{twice}.1"])
    final = _final_lines(proc.stdout)
    assert [final[s][0] for s in SEEDS] == ["ok", "ok", "failed"], proc.stdout
    assert "worker died: killed by signal 9 (SIGKILL)" in final[2][1]
    assert "done: 2 ran, 0 cached, 0 busy-then-cached, 1 failed" in proc.stdout
    # one warning per death that was retried, each about a killed key only: the other workers' runs went on
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 and all("died (killed by signal 9 (SIGKILL)); ran it again" in w for w in warnings)
    assert sorted(w.split()[4] for w in warnings) == sorted([once[:12], twice[:12]]), warnings
    records = {r["key"]: r for r in map(json.loads, map(Path.read_text, (tmp_path / "store").glob("records/*/*")))}
    assert len(records) == 3 and records[once]["status"] == "ok"
    assert records[twice]["status"] == "failed" and records[twice]["failure"] == "worker_died"
    assert not list((tmp_path / "store").glob("claims/*.claim"))  # the dead workers' claims were taken over

    again = _sweep(tmp_path)  # resume: only the failed run runs again, and now it works
    assert again.returncode == 0, again.stderr
    assert [s for s, _ in _final_lines(again.stdout).values()].count("cached") == 2
    assert "done: 1 ran, 2 cached, 0 busy-then-cached, 0 failed" in again.stdout


@pytest.mark.gpu
def test_runs_per_gpu_runs_each_worker_on_its_own_device(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    proc = _sweep(tmp_path, "--runs-per-gpu", "2")
    assert proc.returncode == 0, proc.stderr
    assert [s for s, _ in _final_lines(proc.stdout).values()] == ["ok"] * len(SEEDS)
    records = [json.loads(p.read_text()) for p in (tmp_path / "store").glob("records/*/*.json")]
    assert len(records) == len(SEEDS)
    assert all(r["provenance"]["device"].startswith("cuda") for r in records), [r["provenance"] for r in records]
