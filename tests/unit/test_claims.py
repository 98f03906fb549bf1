"""Per-key claims: exclusive, heart-beating, released on any exit, taken over only when stale."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dabench.errors import StoreError
from dabench.run.claims import ClaimTable, default_timeout

KEY = "ab" * 32


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def fake_claim(table: ClaimTable, *, pid: int, heartbeat: float, host: str | None = None) -> None:
    table.folder.mkdir(parents=True, exist_ok=True)
    info = {"host": host or socket.gethostname(), "pid": pid, "token": "f" * 16, "started": heartbeat}
    table.path(KEY).write_text(json.dumps({**info, "heartbeat": heartbeat}))


def test_claim_is_exclusive_described_and_released(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path, timeout_s=60)
    with table.acquire(KEY) as claim:  # type: ignore[union-attr]
        data = json.loads(table.path(KEY).read_text())
        assert set(data) == {"host", "pid", "token", "started", "heartbeat"} and data["pid"] == os.getpid()
        assert ClaimTable(tmp_path, timeout_s=60).acquire(KEY) is None  # a live claim is not taken
        assert table.live_holder(KEY) == claim.info
    assert not table.path(KEY).exists() and table.holder(KEY) is None
    again = table.acquire(KEY)
    assert again is not None
    again.release()
    again.release()  # twice is harmless


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_claim_is_released_on_exceptions_and_interrupts(tmp_path: Path, exc: type[BaseException]) -> None:
    table = ClaimTable(tmp_path)
    with pytest.raises(exc), table.acquire(KEY):  # type: ignore[union-attr]
        raise exc()
    assert not table.path(KEY).exists()


def test_heartbeat_refreshes_and_notices_a_lost_claim(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path, timeout_s=60, heartbeat_s=0.02)
    claim = table.acquire(KEY)
    assert claim is not None
    first = claim.info.heartbeat
    deadline = time.time() + 5
    while json.loads(table.path(KEY).read_text())["heartbeat"] <= first and time.time() < deadline:
        time.sleep(0.01)
    assert json.loads(table.path(KEY).read_text())["heartbeat"] > first
    fake_claim(table, pid=os.getpid(), heartbeat=time.time())  # someone else's token
    while not claim.lost and time.time() < deadline:
        time.sleep(0.01)
    claim.release()
    assert claim.lost and json.loads(table.path(KEY).read_text())["token"] == "f" * 16  # not ours: left alone


@pytest.mark.parametrize(
    ("why", "pid", "age", "host"),
    [("old heartbeat", os.getppid(), 1000.0, None), ("dead owner pid", None, 0.0, None)],
)
def test_stale_claim_is_taken_over(tmp_path: Path, why: str, pid: int | None, age: float, host: str | None) -> None:
    table = ClaimTable(tmp_path, timeout_s=120)
    fake_claim(table, pid=pid or dead_pid(), heartbeat=time.time() - age, host=host)
    assert table.is_stale(table.holder(KEY)), why  # type: ignore[arg-type]
    claim = table.acquire(KEY)
    assert claim is not None, why
    assert json.loads(table.path(KEY).read_text())["token"] == claim.info.token
    assert sorted(p.name for p in table.folder.iterdir()) == [".takeover.lock", f"{KEY}.claim"]  # stale one gone
    claim.release()


def test_live_claims_are_not_taken(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path, timeout_s=120)
    fake_claim(table, pid=os.getppid(), heartbeat=time.time() - 60)  # alive, heartbeat within the timeout
    assert table.acquire(KEY) is None
    fake_claim(table, pid=dead_pid(), heartbeat=time.time(), host="some-other-host")  # its pid means nothing here
    assert table.acquire(KEY) is None
    table.path(KEY).write_text("")  # being created right now: judged by its mtime
    assert table.acquire(KEY) is None
    old = time.time() - 1000
    os.utime(table.path(KEY), (old, old))
    claim = table.acquire(KEY)
    assert claim is not None
    claim.release()


def test_only_one_of_many_takers_wins_a_stale_claim(tmp_path: Path) -> None:
    for _ in range(5):
        table = ClaimTable(tmp_path, timeout_s=120)
        fake_claim(table, pid=dead_pid(), heartbeat=time.time() - 1000)
        barrier = threading.Barrier(8)
        won = []

        def take(barrier: threading.Barrier = barrier, won: list[Any] = won) -> None:
            mine = ClaimTable(tmp_path, timeout_s=120)
            barrier.wait()
            claim = mine.acquire(KEY)
            if claim is not None:
                won.append(claim)

        threads = [threading.Thread(target=take) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        assert json.loads(table.path(KEY).read_text())["token"] == won[0].info.token
        won[0].release()


def test_timeout_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DABENCH_CLAIM_TIMEOUT", "30")
    assert default_timeout() == 30.0 and ClaimTable("x").timeout_s == 30.0
    monkeypatch.setenv("DABENCH_CLAIM_TIMEOUT", "soon")
    with pytest.raises(StoreError, match="DABENCH_CLAIM_TIMEOUT"):
        default_timeout()
