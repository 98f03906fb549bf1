from __future__ import annotations

import json
import math
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dabench.errors import StoreError
from dabench.run.store import ResultStore, host_tag


def test_put_get_and_completed(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s")
    store.put({"key": "ab" * 32, "status": "ok", "x": 1})
    store.put({"key": "cd" * 32, "status": "failed", "error": "boom"})
    assert store.get("ab" * 32)["x"] == 1
    assert store.completed("cd" * 32) is None and store.get("cd" * 32)["error"] == "boom"
    assert [r["key"] for r in store.records()] == ["ab" * 32, "cd" * 32]
    assert not list(store.path("ab" * 32).parent.glob("*.tmp"))


def test_interrupted_write_leaves_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path)

    def explode(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", explode)
    with pytest.raises(KeyboardInterrupt):
        store.put({"key": "ef" * 32, "status": "ok"})
    assert store.get("ef" * 32) is None
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_killed_write_leaves_no_record_and_its_temp_file_is_cleaned(tmp_path: Path) -> None:
    code = (
        "import os, sys; from dabench.run.store import ResultStore; "
        "os.replace = lambda a, b: os._exit(9); "  # the process dies between writing the temp file and renaming it
        f"ResultStore(sys.argv[1]).put({{'key': '{'ef' * 32}', 'status': 'ok'}})"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    store = ResultStore(tmp_path)
    assert store.get("ef" * 32) is None and len(list(tmp_path.rglob("*.tmp"))) == 1
    store.ensure_writable()
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_store(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    with pytest.raises(StoreError, match="--store"):
        ResultStore(tmp_path / "x").ensure_writable()


def test_store_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(StoreError, match="cannot write"):
        ResultStore(blocker / "store").ensure_writable()


@pytest.mark.parametrize("text", ['{"key": "ab', "{truncated", '{"key": "%s", "status": "ok", "x": NaN}' % ("aa" * 32)])
def test_unreadable_record_is_reported_not_raised(tmp_path: Path, text: str) -> None:
    store = ResultStore(tmp_path)
    path = store.path("aa" * 32)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    found = store.lookup("aa" * 32)
    assert found.record is None and found.problem and found.path == path
    assert store.get("aa" * 32) is None and store.completed("aa" * 32) is None
    assert store.scan().unreadable == [path] and list(store.records()) == []


def test_quarantine_moves_aside_without_overwriting(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    moved = []
    for text in ["{bad", "{worse"]:
        path = store.path("aa" * 32)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        moved.append(store.quarantine(path))
        assert not path.exists()
    assert moved[0] != moved[1] and [m.read_text() for m in moved] == ["{bad", "{worse"]
    assert all(m.parent == tmp_path / "unreadable" and m.name.startswith(f"{'aa' * 32}.json.") for m in moved)
    assert re.fullmatch(r"\d{8}T\d{12}Z", moved[0].name.rsplit(".", 1)[1])
    with pytest.raises(FileNotFoundError):
        store.quarantine(store.path("aa" * 32))


def test_non_finite_values_are_stored_as_null_strict_json(tmp_path: Path) -> None:
    def reject(name: str) -> None:
        raise ValueError(name)

    store = ResultStore(tmp_path)
    record = {
        "key": "ab" * 32,
        "status": "ok",
        "metrics": {"target": {"accuracy": {"value": math.nan, "low": -math.inf, "high": 0.5}}},
        "validators": {"target": {"entropy": math.inf, "scores": [1.0, math.nan]}},
        "timings": {"fit_s": math.nan},
    }
    path = store.put(record)
    stored = json.loads(path.read_text(), parse_constant=reject)
    assert stored["metrics"]["target"]["accuracy"] == {"value": None, "low": None, "high": 0.5}
    assert stored["validators"]["target"] == {"entropy": None, "scores": [1.0, None]}
    assert stored["timings"]["fit_s"] is None and store.completed("ab" * 32) == stored


def test_records_are_group_readable_under_the_umask(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    old = os.umask(0o022)
    try:
        path = store.put({"key": "ab" * 32, "status": "ok"})
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = store.put({"key": "cd" * 32, "status": "ok"})
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_stale_temp_files_are_cleaned_when_opened_for_writing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    folder = store.path("ab" * 32).parent
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    me = host_tag()
    names = {
        "dead_writer": f".{'ab' * 6}-{me}-{dead_pid}-0000abcd.tmp",
        "live_writer": f".{'ab' * 6}-{me}-{os.getpid()}-0000abcd.tmp",
        "other_host": f".{'ab' * 6}-{'0' * 8 if me != '0' * 8 else '1' * 8}-{dead_pid}-0000abcd.tmp",
        "old_legacy": f".{'ab' * 6}-x1y2z3.tmp",
        "new_legacy": f".{'ab' * 6}-q1w2e3.tmp",
    }
    for name in names.values():
        (folder / name).write_text("{partial")
    hour_ago = time.time() - 2 * 3600
    os.utime(folder / names["old_legacy"], (hour_ago, hour_ago))
    store.ensure_writable()
    left = {p.name for p in folder.iterdir()}
    assert left == {names["live_writer"], names["other_host"], names["new_legacy"]}
