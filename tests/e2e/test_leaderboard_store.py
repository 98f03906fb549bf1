"""``dabench leaderboard`` on a store with a corrupt record and a diverged run: nothing is dropped silently."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dabench.cli import main
from dabench.run.store import ResultStore


def run_record(seed: int, value: float | None) -> dict:
    spec = {
        "schema": 1,
        "protocol": "uda",
        "method": {"name": "source_only", "version": "1"},
        "dataset": {"name": "synthetic", "version": "1"},
        "target": None,
        "shift": [{"name": "noise", "version": "1", "intensity": 0.4}],
        "metrics": [{"name": "accuracy", "version": "1"}],
        "params": {"epochs": 1},
        "seed": seed,
        "n_bootstrap": 20,
    }
    key = hashlib.sha256(repr(spec).encode()).hexdigest()
    if value is None:
        return {"key": key, "status": "failed", "failure": "diverged", "spec": spec, "error": "RunDiverged: nan"}
    estimate = {"value": value, "low": value - 0.1, "high": value + 0.1, "n_boot": 20, "interval": "percentile"}
    metrics = {"target": {"accuracy": estimate}, "source": {"accuracy": estimate}}
    return {"key": key, "status": "ok", "spec": spec, "metrics": metrics, "sizes": {"test_target": 40}}


def test_unreadable_records_are_reported_in_the_document_and_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ResultStore(tmp_path / "store")
    for rec in (run_record(0, 0.5), run_record(1, 0.6), run_record(2, None)):
        store.put(rec)
    name = f"records/ff/{'f' * 64}.json"
    (store.root / name).parent.mkdir(parents=True, exist_ok=True)
    (store.root / name).write_text('{"key": "fff", "status": "ok", "spec": {')  # truncated mid-write
    board = tmp_path / "board.md"
    assert main(["leaderboard", "--store", str(store.root), "--out", str(board)]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 unreadable record(s)" in err and name in err and "re-run the sweep" in err
    text = board.read_text()
    (line,) = [line for line in text.splitlines() if "Unreadable records" in line]
    assert line.startswith("**Unreadable records: 1**") and f"`{name}`" in line and str(tmp_path) not in line
    assert "2 ok (0 collapsed), 0 failed, 1 diverged" in text
