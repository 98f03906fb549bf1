"""Two ``dabench sweep`` processes started together on one store never run the same key twice (per-key claims)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.tiny_sweeps import tiny_sweep

SEEDS = range(6)
SWEEP = tiny_sweep("concurrent", len(SEEDS), shift="noise:0.5")
LINE = re.compile(r"^\[\d+/6\] (\w+)\s+source_only digits noise:0\.5 seed=(\d+)")


def test_two_sweeps_on_one_store_run_each_key_exactly_once(tmp_path: Path) -> None:
    sweep = tmp_path / "concurrent.toml"
    sweep.write_text(SWEEP)
    store = tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dabench", "sweep", str(sweep), "--store", str(store)]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    ran: Counter[int] = Counter()
    final: dict[int, list[str]] = {seed: [] for seed in SEEDS}
    for out, _ in results:
        statuses: dict[int, str] = {}
        for match in filter(None, map(LINE.match, out.splitlines())):
            statuses[int(match.group(2))] = match.group(1)  # a busy key's later line (its settled status) wins
            ran[int(match.group(2))] += match.group(1) == "ok"
        for seed, status in statuses.items():
            final[seed].append(status)
    assert ran == Counter(dict.fromkeys(SEEDS, 1)), ran  # every key executed exactly once, across both processes
    assert all(sorted(s) == ["cached", "ok"] for s in final.values()), final
    summaries = [re.search(r"done: (\d+) ran, (\d+) cached, (\d+) busy-then-cached, 0 failed", o) for o, _ in results]
    assert all(summaries) and sum(int(m.group(1)) for m in summaries if m) == len(SEEDS)
    records = [json.loads(p.read_text()) for p in store.glob("records/*/*.json")]
    assert len(records) == len(SEEDS) and all(r["status"] == "ok" for r in records)
    assert not list(store.glob("claims/*.claim"))
